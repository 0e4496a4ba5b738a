/**
 * Confluent's wire format: a magic byte 0, the schema id as a 4-byte big-endian integer, then the
 * payload (for Protobuf, first the message indexes as zig-zag varints). Pure, so it is tested alone.
 */

export const WIRE_HEADER_BYTES = 5;

/** The schema id of a record in Confluent's wire format; undefined for anything else (JSON text, ...). */
export function wireSchemaId(value: Uint8Array | null): number | undefined {
  if (value === null || value.length <= WIRE_HEADER_BYTES || value[0] !== 0) return undefined;
  return ((value[1]! << 24) >>> 0) + (value[2]! << 16) + (value[3]! << 8) + value[4]!;
}

/** A record needs a registry only if it looks like the wire format: JSON never starts with a 0 byte. */
export const looksLikeWireFormat = (value: Uint8Array | null): boolean => wireSchemaId(value) !== undefined;

/**
 * Whether the Protobuf message indexes after the header are sound: a count and that many indexes,
 * each a varint within the record, at most `maxDepth` of them. The client reads them without bounds,
 * so an untrusted record is checked first (a count of 2^31 would loop for minutes).
 */
export function protobufIndexesSound(value: Uint8Array, maxDepth = 16): boolean {
  let at = WIRE_HEADER_BYTES;
  const readVarint = (): number | undefined => {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= value.length) return undefined;
      const byte = value[at++]!;
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return (result >>> 1) ^ -(result & 1);
    }
    return undefined;
  };
  const count = readVarint();
  if (count === undefined || count < 0 || count > maxDepth) return false;
  for (let i = 0; i < count; i++) {
    const index = readVarint();
    if (index === undefined || index < 0) return false;
  }
  return true;
}
