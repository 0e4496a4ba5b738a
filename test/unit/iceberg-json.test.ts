import assert from 'node:assert/strict';
import { parseIcebergJson } from '../../src/adapters/iceberg';

describe('reading Iceberg catalog answers', () => {
  it('keeps 64-bit snapshot ids exact, which JSON.parse would round', () => {
    const text =
      '{"metadata":{"current-snapshot-id":6598282813123424555,"snapshots":[{"snapshot-id":6598282813123424555,' +
      '"parent-snapshot-id":-1,"timestamp-ms":1763740000000,"sequence-number":1}],' +
      '"refs":{"main":{"snapshot-id":6598282813123424555,"type":"branch"}}}}';
    assert.equal(
      (JSON.parse(text) as { metadata: { 'current-snapshot-id': number } }).metadata['current-snapshot-id'],
      6598282813123424000,
    );
    const parsed = parseIcebergJson(text) as {
      metadata: {
        'current-snapshot-id': string;
        snapshots: Array<Record<string, unknown>>;
        refs: { main: { 'snapshot-id': string } };
      };
    };
    assert.equal(parsed.metadata['current-snapshot-id'], '6598282813123424555');
    assert.equal(parsed.metadata.snapshots[0]?.['snapshot-id'], '6598282813123424555');
    assert.equal(parsed.metadata.snapshots[0]?.['parent-snapshot-id'], '-1');
    assert.equal(parsed.metadata.refs.main['snapshot-id'], '6598282813123424555');
    // Other numbers stay numbers.
    assert.equal(parsed.metadata.snapshots[0]?.['timestamp-ms'], 1763740000000);
    assert.equal(parsed.metadata.snapshots[0]?.['sequence-number'], 1);
  });
});
