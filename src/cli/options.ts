import { InvalidArgumentError, Option } from 'commander';

// Parsers for options and arguments: a value they refuse is a usage mistake (exit 2) that says what
// was wrong and what is accepted. Commander calls them while it parses, before any command runs.

/** A whole number from 1 to `max`. */
export function positiveInteger(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(
        `'${value}' is not a whole number from 1 to ${max.toLocaleString('en')}`,
      );
    return n;
  };
}

/** A positive number (fractions allowed), at most `max`. */
export function positiveNumber(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max)
      throw new InvalidArgumentError(`'${value}' is not a number above 0 and at most ${max}`);
    return n;
  };
}

// Names become topic names, workflow ids and catalog keys: no dots inside one, no spaces (src/domain/spec.ts).
const namePattern = /^[^\s.]{1,100}$/;

/** `<domain>.<name>`, or its workflow id `data-product:<domain>.<name>`; returned as given. */
export function productArgument(value: string): string {
  const id = value.startsWith('data-product:') ? value.slice('data-product:'.length) : value;
  const [domain = '', name = '', ...rest] = id.split('.');
  if (rest.length > 0 || !namePattern.test(domain) || !namePattern.test(name))
    throw new InvalidArgumentError(
      `'${value}' is not a product id: a product is <domain>.<name>, e.g. orders.orders_curated (\`meshloop list\` shows them)`,
    );
  return value;
}

/** A domain name as specs write it: no dots or spaces, at most 100 characters. */
export function domainName(value: string): string {
  if (!namePattern.test(value))
    throw new InvalidArgumentError(
      `'${value}' is not a domain name (no dots or spaces, at most 100 characters)`,
    );
  return value;
}

/** Text that must not be empty (a `--by`, a `--comment`), at most `max` characters. */
export function nonEmptyText(max: number) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError('must not be empty');
    if (value.length > max) throw new InvalidArgumentError(`at most ${max} characters`);
    return value;
  };
}

/** An option that takes one of `choices` (commander lists them when another value is given). */
export function choiceOption(flags: string, description: string, choices: readonly string[]): Option {
  return new Option(flags, description).choices(choices);
}

/** `--json` as every command spells it. */
export const jsonOption = (what = 'machine-readable output (docs/cli.md lists each shape)') =>
  new Option('--json', what).default(false);
