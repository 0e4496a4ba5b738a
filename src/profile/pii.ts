/**
 * PII signals: does a field hold e-mail addresses, phone numbers, card numbers, national ids,
 * person names, dates of birth, postal addresses, IP addresses, device ids, or free text that names
 * people? Decided from a sample of its values and, where values alone cannot tell (a date is a
 * birth date only if the field says so), from the field name with values that agree.
 */

export const piiKinds = [
  'email',
  'phone',
  'cardNumber',
  'nationalId',
  'personName',
  'dateOfBirth',
  'address',
  'ipAddress',
  'deviceId',
  'freeText',
] as const;
export type PiiKind = (typeof piiKinds)[number];

export type PiiSignal = Readonly<{
  field: string;
  kind: PiiKind;
  /** Share of the inspected values that look like this kind. */
  matchRatio: number;
  /** `value`: the values look like it; `name`: the field name says so and values agree. */
  by: 'value' | 'name';
}>;

const emailPattern = /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;
const phoneShape = /^\+?[\d\s().-]{7,20}$/;
const cardShape = /^[\d -]{13,23}$/;
// US SSN, UK NINO, a generic "letters then digits" id of passport length, Dutch BSN (9 digits)
const nationalIdPatterns = [
  /^\d{3}-\d{2}-\d{4}$/,
  /^[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]$/i,
  /^[A-Z]{1,2}\d{6,9}$/,
];
const nationalIdName =
  /(ssn|social_?security|national_?id|passport|tax_?id|nino|bsn|personnummer|id_?number)/i;
const personNameField = /(^|_|\.)(full_?name|first_?name|last_?name|given_?name|family_?name|surname|name)$/i;
const notPersonNameField = /(product|company|file|host|page|event|domain|user_?name|display)/i;
const nameShape = /^\p{Lu}[\p{L}'’-]+( \p{Lu}[\p{L}'’-]+){0,3}$/u;
const birthName = /(^|_|\.)(dob|date_?of_?birth|birth_?date|birthdate|birthday|born(_on|_at)?)$/i;
// `address.street`, `home_address`, `address_line1`: the last part names a postal address.
const addressName =
  /(^|_|\.)(address|addr|street|street_?address|address_?line_?\d?|line_?[12]|house_?number|postal_?address)$/i;
const ipName = /(^|_|\.)(ip|ip_?addr(ess)?|client_?ip|remote_?addr(ess)?|source_?ip|src_?ip|ipv4|ipv6)$/i;
const deviceName =
  /(^|_|\.)(device_?id|device_?token|idfa|idfv|gaid|adid|advertising_?id|android_?id|imei|udid|mac|mac_?addr(ess)?|installation_?id|hardware_?id)$/i;
const freeTextName =
  /(^|_|\.)(notes?|comments?|remarks?|messages?|text|body|description|feedback|summary|memo|reason|free_?text)$/i;
const isoDate = /^(\d{4})-(\d{2})-(\d{2})([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Full form, or compressed with `::` (a time like 12:30:00 is neither).
const ipv6 = /^(([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?=.*::)[0-9a-f:]{2,39})$/i;
const macShape = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const deviceShape = /^[0-9A-Za-z][0-9A-Za-z:_-]{7,63}$/;
// A street word on its own (`Baker Street`, `rue de Rivoli`) or ending a compound (`Hauptstraße`).
const streetWords =
  /(^|[\s,])(street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|boulevard|blvd|court|ct|place|pl|square|sq|terrace|close|crescent|highway|hwy|rue|via|calle)\.?(?=[\s,]|$)|(strasse|straße|str\.|weg|gasse|allee|platz|straat|laan|gracht)(?=[\s,.]|$)/iu;
// A title and a capitalised word, or two capitalised words after a lowercase one (not a sentence start).
const namedPerson =
  /\b(Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.? \p{Lu}\p{Ll}+|\p{Ll}[\p{L},]* \p{Lu}\p{Ll}+ \p{Lu}\p{Ll}+/u;

/** The Luhn checksum every payment card number passes. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

export const looksLikeEmail = (value: string) => value.length <= 254 && emailPattern.test(value);

export function looksLikePhone(value: string): boolean {
  // A date (2026-01-05) is digits and dashes too.
  if (!phoneShape.test(value) || isoDate.test(value)) return false;
  const digits = value.replace(/\D/g, '');
  // Phone numbers have 7–15 digits (E.164) and are written with a + or separators; a bare run of
  // digits is more likely an id or an amount.
  return digits.length >= 7 && digits.length <= 15 && (value.startsWith('+') || /[\s().-]/.test(value));
}

export function looksLikeCardNumber(value: string): boolean {
  if (!cardShape.test(value)) return false;
  const digits = value.replace(/[ -]/g, '');
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
}

export const looksLikeNationalId = (value: string) =>
  nationalIdPatterns.some((pattern) => pattern.test(value));
export const looksLikePersonName = (value: string) => value.length <= 80 && nameShape.test(value);

/** A calendar date (or instant) in the past, after 1900: what a birth date field holds. */
export function looksLikePastDate(value: string, now = Date.now()): boolean {
  const match = isoDate.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  return year >= 1900 && Number.isFinite(ms) && ms <= now;
}

export const looksLikeIpAddress = (value: string) =>
  value.length <= 45 && (ipv4.test(value) || ipv6.test(value));

/** A MAC address by its shape; with a device field name, any opaque token (a UUID, an IMEI). */
export const looksLikeMacAddress = (value: string) => macShape.test(value);
export const looksLikeDeviceToken = (value: string) => value.length <= 64 && deviceShape.test(value);

/** A street address: a house number and a street word (`12 Baker Street`, `Hauptstraße 5`). */
export const looksLikeStreetAddress = (value: string) =>
  value.length <= 200 && /\d/.test(value) && /\p{L}{2,}/u.test(value) && streetWords.test(value);

/** Free text (a few words at least) that mentions someone by name or title. */
export const looksLikeTextNamingPeople = (value: string) =>
  value.length >= 15 && value.length <= 10_000 && /\s\S+\s/.test(value) && namedPerson.test(value);

const detectors: Record<PiiKind, (value: string) => boolean> = {
  email: looksLikeEmail,
  phone: looksLikePhone,
  cardNumber: looksLikeCardNumber,
  nationalId: looksLikeNationalId,
  personName: looksLikePersonName,
  dateOfBirth: (value) => looksLikePastDate(value),
  address: looksLikeStreetAddress,
  ipAddress: looksLikeIpAddress,
  deviceId: looksLikeDeviceToken,
  freeText: looksLikeTextNamingPeople,
};

/** What a field's name says it holds, for kinds its values alone cannot tell. */
const namedKinds: Partial<Record<PiiKind, RegExp>> = {
  nationalId: nationalIdName,
  dateOfBirth: birthName,
  address: addressName,
  ipAddress: ipName,
  deviceId: deviceName,
  freeText: freeTextName,
};
/** Kinds flagged only with a telling field name: any date, any token could be something else. */
const nameOnlyKinds = new Set<PiiKind>(['personName', 'dateOfBirth', 'deviceId']);
/** Free text is personal as soon as a tenth of it names people. */
export const PII_FREE_TEXT_THRESHOLD = 0.1;

/** The PII kind a field's name alone suggests (for a field with no values to look at). */
export function piiKindOfName(field: string): PiiKind | undefined {
  if (personNameField.test(field) && !notPersonNameField.test(field)) return 'personName';
  for (const [kind, pattern] of Object.entries(namedKinds) as Array<[PiiKind, RegExp]>) {
    if (kind !== 'freeText' && pattern.test(field)) return kind;
  }
  return undefined;
}

/** The share of values a kind must match before a field is flagged by its values alone. */
export const PII_VALUE_THRESHOLD = 0.6;
/** With a telling field name, a lower share suffices. */
export const PII_NAME_THRESHOLD = 0.3;

/** One kind's signal on a field, if its values (and, for some kinds, its name) say so. */
function signalOf(field: string, kind: PiiKind, values: readonly string[]): PiiSignal | undefined {
  let matches = 0;
  for (const value of values) if (detectors[kind](value.trim())) matches++;
  const matchRatio = matches / values.length;
  if (matchRatio === 0) return undefined;
  const namedFor =
    kind === 'personName'
      ? personNameField.test(field) && !notPersonNameField.test(field)
      : (namedKinds[kind]?.test(field) ?? false);
  const named =
    namedFor && matchRatio >= (kind === 'freeText' ? PII_FREE_TEXT_THRESHOLD : PII_NAME_THRESHOLD);
  // A capitalised word is not a name by itself (cities, products), a date not a birth date, a
  // token not a device: those kinds need the field name (a MAC address tells by its shape).
  const byValue =
    matchRatio >= PII_VALUE_THRESHOLD &&
    (!nameOnlyKinds.has(kind) || (kind === 'deviceId' && macRatio(values) >= PII_VALUE_THRESHOLD));
  if (byValue) return { field, kind, matchRatio, by: 'value' };
  return named ? { field, kind, matchRatio, by: 'name' } : undefined;
}

/** The PII signals of one field, from (a sample of) its string values. */
export function detectPii(field: string, values: readonly string[]): PiiSignal[] {
  if (values.length === 0) return [];
  let found = piiKinds.flatMap((kind) => signalOf(field, kind, values) ?? []);
  // Card numbers and national ids are also runs of digits a phone check might accept: the more
  // specific signal wins.
  if (found.some((s) => s.kind === 'cardNumber' || s.kind === 'nationalId')) {
    found = found.filter((s) => s.kind !== 'phone');
  }
  // An IP or MAC address is no phone number or national id, whatever its digits; a birth date no
  // phone number.
  if (found.some((s) => s.kind === 'ipAddress' || s.kind === 'deviceId' || s.kind === 'dateOfBirth')) {
    found = found.filter((s) => s.kind !== 'phone' && s.kind !== 'nationalId');
  }
  return found;
}

const macRatio = (values: readonly string[]) =>
  values.length === 0 ? 0 : values.filter((v) => looksLikeMacAddress(v.trim())).length / values.length;
