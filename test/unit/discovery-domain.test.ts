import assert from 'node:assert/strict';
import { findJoinKeys } from '../../src/agents/join-keys';
import { planProposals } from '../../src/agents/planner';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { detectPii, profileMessages } from '../../src/profile';
import type { ProfiledMessage, TopicProfile } from '../../src/profile';
import { loadMeshConfig } from '../../src/specs/load';
import { TopicProfiler } from '../../src/profile';
import { generateSeedRecords } from '../../src/seed/generator';
import { CLINIC_MISTYPED, clinicMesh, clinicRecords, clinicTimestamp } from '../fixtures/domains/clinic';

const toMessages = (records: ReadonlyArray<Record<string, unknown>>): ProfiledMessage[] =>
  records.map((value, i) => ({
    partition: 0,
    offset: String(i),
    key: null,
    value: Buffer.from(JSON.stringify(value)),
    timestamp: clinicTimestamp(value),
  }));

function clinicProfiles(
  change: (records: ReturnType<typeof clinicRecords>) => void = () => undefined,
): TopicProfile[] {
  const records = clinicRecords();
  change(records);
  return Object.entries(records).map(([topic, values]) => profileMessages(topic, toMessages(values)));
}

const mesh = parseMeshConfig(clinicMesh());
const byTopic = (profiles: TopicProfile[], topic: string) => profiles.find((p) => p.topic === topic)!;

describe('discovery on a domain it has never seen (the clinic)', () => {
  const profiles = clinicProfiles();

  it('finds foreign keys from containment in the other side’s unique keys, whatever the names, and never joins a decoy of the same name', () => {
    const joins = findJoinKeys(profiles).map((j) => ({
      key: `${j.child}.${j.childField} → ${j.parent}.${j.parentField}`,
      containment: j.overlap.containment,
      coverage: j.overlap.coverage,
    }));
    assert.deepEqual(joins.map((j) => j.key).sort(), [
      'billing.claims.appt → clinic.appointments.appointment_id',
      'clinic.appointments.patient_ref → clinic.patients.id',
    ]);
    const claims = joins[0]!;
    assert.equal(claims.containment, 1);
    // 70 % of the appointments have a claim: a symmetric measure (Jaccard 0.7) would be no better
    // than a coincidence; containment says every claim refers to an appointment.
    assert.ok(Math.abs(claims.coverage - 0.7) < 0.08, `coverage ${claims.coverage}`);
  });

  it('finds the patient key too, and reports it unproposed because patients hold personal data', () => {
    const { joins } = planProposals(profiles, mesh);
    const patient = joins.find((j) => j.child === 'clinic.appointments.patient_ref');
    assert.ok(patient, JSON.stringify(joins));
    assert.equal(patient.parent, 'clinic.patients.id');
    assert.equal(patient.containment, 1);
    assert.match(patient.notProposed ?? '', /clinic\.patients holds personal data \(.*date_of_birth/);
    assert.ok(!joins.some((j) => j.child.startsWith('archive.') || j.parent.startsWith('archive.')));
  });

  it('proposes the claims join with containment and coverage in the evidence, and no decoy join', () => {
    const { proposals, skipped } = planProposals(profiles, mesh);
    assert.deepEqual(skipped, []);
    assert.deepEqual(proposals.map((p) => `${p.spec.domain}.${p.spec.name}`).sort(), [
      'archive.appointments_curated',
      'billing.claims_curated',
      'clinic.appointments_curated',
      'clinic.appointments_with_claims',
      'clinic.patients_masked',
    ]);
    const join = proposals.find((p) => p.spec.name === 'appointments_with_claims')!.spec;
    assert.match(join.sql!, /ON appointments\.`appointment_id` = claims\.`appt`/);
    const evidence = join.proposal!.evidence.map((e) => e.summary).join('\n');
    assert.match(
      evidence,
      /100 % of billing\.claims\.appt's values \(\d+ sampled\) are clinic\.appointments\.appointment_id keys; they cover (6\d|7\d)(\.\d)? % of those keys/,
    );
  });

  it('profiles a topic with 4 mistyped records in 2,500 and proposes it, counting them as rejected', () => {
    const appointments = byTopic(profiles, 'clinic.appointments');
    assert.deepEqual(appointments.drift, []);
    assert.deepEqual(appointments.mistyped, [
      { field: 'duration_min', type: 'long', records: CLINIC_MISTYPED, types: { long: 2496, string: 4 } },
    ]);
    const duration = appointments.fields.find((f) => f.name === 'duration_min')!;
    assert.equal(duration.type, 'long');
    assert.equal(duration.min, 15);
    const { proposals } = planProposals(profiles, mesh);
    const curated = proposals.find(
      (p) => p.spec.domain === 'clinic' && p.spec.name === 'appointments_curated',
    )!;
    assert.equal(curated.spec.schema.fields.find((f) => f.name === 'duration_min')?.type, 'long');
    assert.match(
      curated.spec.proposal!.evidence[0]!.summary,
      /2,500 records sampled, 0 unparseable, 4 rejected as mistyped \(duration_min: string in 4 of 2,500 \(long expected\)\)/,
    );
    assert.match(curated.spec.proposal!.reasoning, /0\.16 % of records unparseable or mistyped/);
  });

  it('holds back a topic whose field really changed type for a large share, with the figures', () => {
    const drifted = clinicProfiles((records) => {
      records['clinic.appointments']!.forEach((r, i) => {
        if (i >= 1750) r.duration_min = `${String(r.duration_min)} min`;
      });
    });
    const { proposals, skipped } = planProposals(drifted, mesh);
    assert.deepEqual(skipped, [
      'clinic.appointments: schema drifts, fields changed type for more than 1.0 % of their values ' +
        '(duration_min: long in 1,747 (69.9 %), string in 753 (30.1 %)); fix the producer first',
    ]);
    assert.ok(!proposals.some((p) => p.spec.domain === 'clinic' && p.spec.name.startsWith('appointments')));
  });

  it('recognises personal data by name and value and masks it by default', () => {
    const patients = byTopic(profiles, 'clinic.patients');
    const kinds = Object.fromEntries(patients.pii.map((s) => [s.field, s.kind]));
    assert.deepEqual(kinds, {
      name: 'personName',
      date_of_birth: 'dateOfBirth',
      address: 'address',
      portal_ip: 'ipAddress',
    });
    // A date of birth is never the event time.
    assert.equal(patients.eventTimeField, 'registered_at');
    const masked = planProposals(profiles, mesh).proposals.find(
      (p) => p.spec.name === 'patients_masked',
    )!.spec;
    assert.deepEqual(Object.fromEntries(masked.classification.masking.map((m) => [m.field, m.strategy])), {
      name: 'tokenize',
      date_of_birth: 'truncate',
      address: 'redact',
      portal_ip: 'hash',
    });
    assert.match(
      masked.sql!,
      /CONCAT\(SUBSTR\(CAST\(.*`date_of_birth` AS STRING\), 1, 4\), '-\*\*-\*\*'\) AS `date_of_birth`/,
    );
  });

  it('leaves redelivered records out, so a key stays unique when a batch is delivered twice', () => {
    const twice = clinicProfiles((records) => {
      const appointments = records['clinic.appointments']!;
      appointments.push(...appointments.slice(1000, 1200));
    });
    const appointments = byTopic(twice, 'clinic.appointments');
    assert.equal(appointments.records, 2700);
    assert.equal(appointments.parsed, 2500);
    assert.equal(appointments.duplicates, 200);
    assert.ok(appointments.candidateKeys.includes('appointment_id'));
    assert.ok(
      planProposals(twice, mesh).proposals.some((p) => p.spec.name === 'appointments_with_claims'),
      'the join survives the redelivery',
    );
  });
});

describe('personal data kinds', () => {
  const kinds = (field: string, values: string[]) => detectPii(field, values).map((s) => s.kind);

  it('a date of birth from its name and past dates; a booking date is no birth date', () => {
    assert.deepEqual(kinds('dob', ['1984-02-29T00:00:00.000Z', '1990-07-01T00:00:00.000Z']), ['dateOfBirth']);
    assert.deepEqual(kinds('customer.birth_date', ['1971-12-31']), ['dateOfBirth']);
    assert.deepEqual(kinds('booked_at', ['1984-02-29T00:00:00.000Z']), []);
    // Dates in the future are no birth dates.
    assert.deepEqual(kinds('date_of_birth', ['2190-01-01']), []);
  });

  it('IP addresses by value, MAC addresses by value, other device ids by name', () => {
    assert.deepEqual(kinds('origin', ['10.0.0.1', '192.168.10.254', '2001:db8::1']), ['ipAddress']);
    assert.deepEqual(kinds('at', ['12:30:00', '08:15:59']), []);
    assert.deepEqual(kinds('hw', ['00:1A:2B:3C:4D:5E', 'aa-bb-cc-dd-ee-ff']), ['deviceId']);
    assert.deepEqual(kinds('device_id', ['6f1c2d8e-4b1a-4c5e-9d7f-0a1b2c3d4e5f']), ['deviceId']);
    assert.deepEqual(kinds('order_id', ['6f1c2d8e-4b1a-4c5e-9d7f-0a1b2c3d4e5f']), []);
  });

  it('postal addresses by value and name; free text that names people', () => {
    assert.deepEqual(kinds('shipping', ['12 Baker Street', 'Hauptstraße 5, 10115 Berlin']), ['address']);
    assert.deepEqual(kinds('shipping.street', ['Elm Road 4']), ['address']);
    assert.deepEqual(kinds('city', ['Berlin', 'Hamburg']), []);
    assert.deepEqual(
      kinds('notes', [
        'patient arrived late',
        'called back by Dr. Novak about the results',
        'rebooked for next week',
        'no show',
        'seen with Anna Schmidt from the ward',
      ]),
      ['freeText'],
    );
    assert.deepEqual(kinds('notes', ['arrived late', 'rebooked for next week', 'no show today']), []);
  });
});

describe('the demo seed, with records delivered twice (issue 20: joins came and went)', () => {
  it('proposes both order joins whether or not a batch was redelivered', async () => {
    const mesh = await loadMeshConfig('mesh.yaml');
    const joinsOf = (redeliverEvery: number) => {
      const profilers = new Map<string, TopicProfiler>();
      let i = 0;
      for (const r of generateSeedRecords({ seed: 42 })) {
        if (i++ >= 10_000) break;
        let profiler = profilers.get(r.topic);
        if (!profiler) profilers.set(r.topic, (profiler = new TopicProfiler(r.topic)));
        const message: ProfiledMessage = {
          partition: 0,
          offset: String(i),
          key: r.key === null ? null : Buffer.from(r.key),
          value: r.value === null ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
          timestamp: r.eventTime,
        };
        profiler.add(message);
        if (redeliverEvery > 0 && i % redeliverEvery === 0)
          profiler.add({ ...message, offset: `${i}-again` });
      }
      const profiles = [...profilers.values()].map((p) => p.finish(new Date(0)));
      const orders = profiles.find((p) => p.topic === 'orders.orders')!;
      const names = planProposals(profiles, mesh)
        .proposals.map((p) => p.spec.name)
        .filter((n) => n.includes('_with_'));
      return { names, duplicates: orders.duplicates, keys: orders.candidateKeys };
    };
    assert.deepEqual(joinsOf(0), {
      names: ['orders_with_payments', 'orders_with_shipments'],
      duplicates: 0,
      keys: ['order_id'],
    });
    // Counted twice, a redelivered order made order_id look repeated: no unique key, no joins.
    const redelivered = joinsOf(50);
    assert.deepEqual(redelivered.names, ['orders_with_payments', 'orders_with_shipments']);
    assert.ok((redelivered.duplicates ?? 0) > 0);
    assert.deepEqual(redelivered.keys, ['order_id']);
  });
});
