export * from "./client";
export * from "./errors";
export * as v1 from "./gen/v1";
