// The partitions every language computes by the same formulas (tests/clients/conformance.py), and
// their canonical strings (typed keys sorted by name, exact int64s, fields as hex).
import { v1 } from "@artimeta/client";

export function partition(i: number): v1.StoragePartition {
  const n = BigInt(i);
  return v1.StoragePartition.fromPartial({
    keys: {
      keys: {
        id: { int64Key: (n * 1_000_003n - 5_000_000_000n).toString() },
        bucket: { int8Key: (i % 256) - 128 },
        day: { dateKey: { year: 2000 + (i % 30), month: 1 + (i % 12), day: 1 + (i % 28) } },
        none: { nullKey: {} },
      },
    },
    inputFingerprint: i % 2 === 0 ? (n * 2_654_435_761n).toString() : undefined,
    contentFingerprint: (-(n + 1n) * 1_099_511_627_777n).toString(),
    type: "arti.storage.local:LocalFilePartition",
    fields: Buffer.from(`{"path":"/conformance/part-${String(i).padStart(5, "0")}","size":${i}}`),
  });
}

export const pad = (n: number, w: number) => String(n).padStart(w, "0");

export function canonical(p: v1.StoragePartition): string {
  const keys = p.keys?.keys ?? {};
  const parts = Object.keys(keys)
    .sort()
    .map((name) => {
      const k = keys[name];
      let value: string;
      if (k.dateKey) value = `date:${pad(k.dateKey.year, 4)}-${pad(k.dateKey.month, 2)}-${pad(k.dateKey.day, 2)}`;
      else if (k.nullKey) value = "null";
      else if (k.int8Key !== undefined) value = `int8:${k.int8Key}`;
      else if (k.int16Key !== undefined) value = `int16:${k.int16Key}`;
      else if (k.int32Key !== undefined) value = `int32:${k.int32Key}`;
      else value = `int64:${k.int64Key}`;
      return `${name}=${value}`;
    });
  return [parts.join(";"), p.inputFingerprint ?? "-", p.contentFingerprint ?? "-", p.type, p.fields.toString("hex")].join("|");
}
