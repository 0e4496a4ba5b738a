/**
 * PII signals: does a field hold e-mail addresses, phone numbers, card numbers, national ids or
 * person names? Decided from a sample of its values (and, for names and ids, the field name).
 */

export const piiKinds = ['email', 'phone', 'cardNumber', 'nationalId', 'personName'] as const;
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
  if (!phoneShape.test(value)) return false;
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

const detectors: Record<PiiKind, (value: string) => boolean> = {
  email: looksLikeEmail,
  phone: looksLikePhone,
  cardNumber: looksLikeCardNumber,
  nationalId: looksLikeNationalId,
  personName: looksLikePersonName,
};

/** The share of values a kind must match before a field is flagged by its values alone. */
export const PII_VALUE_THRESHOLD = 0.6;
/** With a telling field name, a lower share suffices. */
export const PII_NAME_THRESHOLD = 0.3;

/** The PII signals of one field, from (a sample of) its string values. */
export function detectPii(field: string, values: readonly string[]): PiiSignal[] {
  if (values.length === 0) return [];
  const signals: PiiSignal[] = [];
  for (const kind of piiKinds) {
    let matches = 0;
    for (const value of values) if (detectors[kind](value.trim())) matches++;
    const matchRatio = matches / values.length;
    const namedFor =
      (kind === 'personName' && personNameField.test(field) && !notPersonNameField.test(field)) ||
      (kind === 'nationalId' && nationalIdName.test(field));
    // A capitalised word is not a name by itself (cities, products): person names need the field name.
    if (kind === 'personName') {
      if (namedFor && matchRatio >= PII_NAME_THRESHOLD) signals.push({ field, kind, matchRatio, by: 'name' });
      continue;
    }
    if (matchRatio >= PII_VALUE_THRESHOLD) signals.push({ field, kind, matchRatio, by: 'value' });
    else if (namedFor && matchRatio >= PII_NAME_THRESHOLD)
      signals.push({ field, kind, matchRatio, by: 'name' });
  }
  // Card numbers and national ids are also runs of digits a phone check might accept: the more
  // specific signal wins.
  if (signals.some((s) => s.kind === 'cardNumber' || s.kind === 'nationalId')) {
    return signals.filter((s) => s.kind !== 'phone');
  }
  return signals;
}
