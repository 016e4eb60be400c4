export * from "./client";
export * from "./errors";
export * from "./retry-classes";
export * as v1 from "./gen/v1";
