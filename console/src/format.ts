import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { CompositeKey, StoragePartition } from "./gen/artimeta/v1/partition_pb";
import { when } from "./dom";

export function ts(t: Timestamp | undefined): string {
  return when(t ? timestampDate(t) : undefined);
}

export function fp(value: bigint | undefined): string {
  return value === undefined ? "∅" : value.toString();
}

export function bytes(n: bigint | number): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

export function compositeKey(keys: CompositeKey | undefined): string {
  const names = Object.keys(keys?.keys ?? {}).sort();
  if (!names.length) return "(not partitioned)";
  return names
    .map((name) => {
      const k = keys!.keys[name].key;
      switch (k.case) {
        case "dateKey":
          return `${name}=${k.value.year}-${String(k.value.month).padStart(2, "0")}-${String(k.value.day).padStart(2, "0")}`;
        case "nullKey":
          return `${name}=null`;
        case undefined:
          return `${name}=?`;
        default:
          return `${name}=${k.value.toString()}`;
      }
    })
    .join(", ");
}

const decoder = new TextDecoder();

export function fields(p: StoragePartition): string {
  return p.fields.length ? decoder.decode(p.fields) : "{}";
}
