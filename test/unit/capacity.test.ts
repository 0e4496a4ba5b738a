import assert from 'node:assert/strict';
import { planProposals } from '../../src/agents/planner';
import { portDefaults } from '../../src/config';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { CAPACITY_OFFSET_SHIFT, capacityEnvironment, capacityOffset } from '../../bench/capacity/platform';
import type { ProcSample } from '../../bench/capacity/proc';
import { cpuPercent, parseRssKb, parseStat, treeOf, treeUsage } from '../../bench/capacity/proc';
import { parseCapacityArgs, productCopies } from '../../bench/capacity/products';
import { chaosPorts } from '../helpers/chaos-platform';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';

describe('bench/capacity: reading /proc', () => {
  it('counts stat fields from the last parenthesis (a command may hold spaces and parentheses)', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ... threads
    const line =
      '4242 (java (main) x) S 4200 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 77 0 999 4000000 2000';
    assert.deepEqual(parseStat(line), { ppid: 4200, cpuTicks: 1290, threads: 77 });
    assert.throws(() => parseStat('garbage'), /not a \/proc stat line/);
  });

  it('reads VmRSS in kB, and none for a process without one', () => {
    assert.equal(parseRssKb('Name:\tjava\nVmRSS:\t  123456 kB\nThreads:\t9\n'), 123456);
    assert.equal(parseRssKb('Name:\tkthreadd\nThreads:\t1\n'), 0);
  });

  it('sums a service’s whole tree (the sandbox wrapper and the JVM under it), not its neighbours', () => {
    const proc = (pid: number, ppid: number, rssKb: number, cpuTicks: number): ProcSample => ({
      pid,
      ppid,
      rssKb,
      cpuTicks,
      threads: 1,
    });
    const snapshot = [
      proc(10, 1, 1024, 1),
      proc(11, 10, 2048, 100),
      proc(12, 11, 1024, 50),
      proc(20, 1, 9999, 9),
    ];
    assert.deepEqual(
      treeOf(10, snapshot).map((p) => p.pid),
      [10, 11, 12],
    );
    assert.deepEqual(treeUsage(10, snapshot), { rssMb: 4, cpuTicks: 151, threads: 3, processes: 3 });
    assert.equal(treeUsage(99, snapshot).processes, 0);
    const before = treeUsage(10, snapshot);
    assert.equal(cpuPercent(before, { ...before, cpuTicks: before.cpuTicks + 500 }, 10), 50);
    assert.throws(() => cpuPercent(before, before, 0), /must last some time/);
  });
});

describe('bench/capacity: its products and options', () => {
  const planned = planProposals(demoProfiles(), demoMesh).proposals.map((proposal) => proposal.spec);

  it('copies the demo proposals round robin into valid specs with ids and topics of their own', () => {
    const copies = productCopies(planned, 24).map((spec) => parseSpec(spec));
    const ids = copies.map(productIdOf);
    assert.equal(new Set(ids).size, 24);
    assert.deepEqual(
      copies.map((spec) => spec.outputTopic.name),
      ids,
    );
    assert.equal(copies[0]!.sql, planned[0]!.sql);
    assert.deepEqual(copies[planned.length]!.inputs, parseSpec(planned[0]!).inputs);
    assert.ok(
      copies.some((spec) => spec.inputs.length === 2),
      'joins among them',
    );
  });

  it('takes --products, --rate, --window, --json; refuses what it does not know, saying what it takes', () => {
    assert.deepEqual(parseCapacityArgs([]), {
      products: 24,
      rate: 5,
      window: 60,
      settle: 60,
      activeTimeoutS: 900,
      json: false,
      keep: false,
    });
    const options = parseCapacityArgs(['--products', '30', '--rate', '10', '--json']);
    assert.deepEqual([options.products, options.rate, options.json], [30, 10, true]);
    assert.throws(
      () => parseCapacityArgs(['--products', '0']),
      /--products takes a whole number from 1 to 64, not 0/,
    );
    assert.throws(() => parseCapacityArgs(['--products']), /not nothing/);
    assert.throws(() => parseCapacityArgs(['--fast']), /unknown option --fast\nusage:/);
  });

  it('runs its own stack beside the test and chaos platforms: no port of theirs', () => {
    for (const offset of [10000, 20000]) {
      const env = capacityEnvironment(capacityOffset({ MESHLOOP_TEST_PORT_OFFSET: String(offset) }));
      const mine = Object.keys(portDefaults).map((key) => Number(env[key]));
      assert.equal(mine[0], portDefaults.MESHLOOP_TEMPORAL_PORT + offset + CAPACITY_OFFSET_SHIFT);
      const others = [
        ...Object.values(portDefaults).map((port) => port + offset),
        ...Object.values(chaosPorts(offset)).map(Number),
        ...[7070, 7181].map((port) => port + offset),
      ];
      for (const port of mine) {
        assert.ok(!others.includes(port), `${port} is another platform's`);
        assert.ok(port < 5000 + offset || port > 5999 + offset, `${port} is in the secured platform's range`);
        assert.ok(port <= 65535);
      }
      assert.equal(env.MESHLOOP_CRITIC, 'advise');
      assert.equal(env.MESHLOOP_PREVIEW_RECORDS, '0');
    }
    assert.equal(capacityOffset({ MESHLOOP_CAPACITY_PORT_OFFSET: '40000' }), 40000);
    assert.throws(
      () => capacityOffset({ MESHLOOP_CAPACITY_PORT_OFFSET: 'x' }),
      /whole number from 0 to 55000/,
    );
  });
});
