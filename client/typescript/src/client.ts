// A promise-based client over the generated @grpc/grpc-js stubs: one channel with a default
// deadline, retries of UNAVAILABLE with exponential backoff (gRPC service config), an optional
// bearer token and TLS roots, and typed errors. `client.service(AnyServiceClient)` gives every
// generated service the same behaviour, so services without helpers here are just as usable.
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ClientWritableStream,
  credentials,
  type Interceptor,
  InterceptingCall,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { ArtimetaError, toArtimetaError } from "./errors";
import { createHash, randomUUID } from "node:crypto";
import { RETRY_CLASSES } from "./retry-classes";
import { BlobServiceClient } from "./gen/artimeta/v1/blobs";
import { CacheServiceClient } from "./gen/artimeta/v1/cache";
import { ConnectionServiceClient } from "./gen/artimeta/v1/connection";
import { ReadConsistency } from "./gen/artimeta/v1/consistency";
import { type Digest } from "./gen/artimeta/v1/digest";
import { RecordServiceClient } from "./gen/artimeta/v1/records";
import {
  type DeleteNamespaceResponse,
  type Namespace,
  NamespaceServiceClient,
} from "./gen/artimeta/v1/namespace";
import { OpStoreServiceClient } from "./gen/artimeta/v1/opstore";

export const DEFAULT_TIMEOUT_MS = 30_000;
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The size of the messages putBlob streams (well under any message limit). */
export const UPLOAD_CHUNK_BYTES = 256 * 1024;

/** The content identity of data: its sha256 and length. */
export function digestOf(data: Buffer): Digest {
  return { hash: createHash("sha256").update(data).digest("hex"), sizeBytes: String(data.length) };
}

/** Retries UNAVAILABLE through the gRPC service config (the same policy in every language), for the
 *  RPCs whose retry class allows it (RETRY_CLASSES, generated from the proto). */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 2000, backoffMultiplier: 2 };

export interface ArtimetaOptions {
  /** Deadline of calls made without one (default 30 s). */
  timeoutMs?: number;
  /** null disables retries. */
  retry?: RetryPolicy | null;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** PEM roots to trust; giving any of the three TLS fields (or secure: true) dials with TLS. */
  rootCerts?: Buffer;
  privateKey?: Buffer;
  certChain?: Buffer;
  secure?: boolean;
  channelOptions?: ChannelOptions;
}

export interface CallOpts {
  timeoutMs?: number;
  signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;
type StreamMethod<Req, Res> = (request: Req, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<Res>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type WritingMethod = (...args: any[]) => ClientWritableStream<any>;

/**
 * A generated stub with every unary method returning a Promise and every server stream an
 * AsyncIterable. Client streams (blob uploads) are left out: use `putBlob` or `stub()`.
 */
export type Promised<S> = {
  // Order matters: a stream's signature would also pass for a unary one (fewer parameters).
  [K in Exclude<keyof S, keyof Client>]: S[K] extends WritingMethod
    ? never
    : S[K] extends StreamMethod<infer Req, infer Res>
    ? (request: Req, options?: CallOpts) => AsyncIterable<Res>
    : S[K] extends UnaryMethod<infer Req, infer Res>
      ? (request: Req, options?: CallOpts) => Promise<Res>
      : never;
};

type StubClass<S> = {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): S;
  service: Record<string, { responseStream: boolean; requestStream: boolean }>;
};

/** The RPCs the service config retries: reads, idempotent writes, and mutations with a request_id. */
export function retriedMethods(): { service: string; method: string }[] {
  return Object.entries(RETRY_CLASSES)
    .filter(([, cls]) => cls !== "NONE")
    .map(([path]) => {
      const [service, method] = path.slice(1).split("/");
      return { service, method };
    });
}

/** A fresh request_id when the RPC takes one and the caller gave none; retries resend the same. */
export function withRequestId(path: string, message: unknown): unknown {
  if (RETRY_CLASSES[path] !== "REQUEST_ID" || typeof message !== "object" || message === null) return message;
  const m = message as { requestId?: string };
  return m.requestId ? message : { ...m, requestId: randomUUID() };
}

export function serviceConfig(retry: RetryPolicy): string {
  return JSON.stringify({
    methodConfig: [
      {
        name: retriedMethods(),
        retryPolicy: {
          maxAttempts: retry.maxAttempts,
          initialBackoff: `${retry.initialBackoffMs / 1000}s`,
          maxBackoff: `${retry.maxBackoffMs / 1000}s`,
          backoffMultiplier: retry.backoffMultiplier,
          retryableStatusCodes: ["UNAVAILABLE"],
        },
      },
    ],
  });
}

export class ArtimetaClient {
  readonly target: string;
  readonly timeoutMs: number;
  /** The generated NamespaceService with promise-returning methods. */
  readonly namespaces: Promised<NamespaceServiceClient>;
  /** arti's backend (graphs, snapshots, tags, partitions); build requests with `v1.X.fromPartial({...})`. */
  readonly connection: Promised<ConnectionServiceClient>;
  /** Content-addressed blobs and keyed objects; uploads go through `putBlob`. */
  readonly blobs: Promised<BlobServiceClient>;
  /** Record directories (manifests of blobs). */
  readonly records: Promised<RecordServiceClient>;
  /** redun's backend: values, call nodes, executions and jobs. */
  readonly cache: Promised<CacheServiceClient>;
  /** chariots' op store: ops, versions, links and pipelines. */
  readonly opStore: Promised<OpStoreServiceClient>;
  private readonly credentials: ChannelCredentials;
  private readonly base: NamespaceServiceClient;
  private readonly interceptors: Interceptor[];
  private readonly token?: string;

  constructor(target: string, options: ArtimetaOptions = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.token = options.token;
    const tls = options.secure ?? Boolean(options.rootCerts || options.certChain);
    this.credentials = tls
      ? credentials.createSsl(options.rootCerts ?? null, options.privateKey ?? null, options.certChain ?? null)
      : credentials.createInsecure();
    const retry = options.retry === undefined ? DEFAULT_RETRY : options.retry;
    const channelOptions: ChannelOptions = {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      "grpc.keepalive_time_ms": 60_000,
      "grpc.enable_retries": retry ? 1 : 0,
      ...(retry ? { "grpc.service_config": serviceConfig(retry) } : {}),
      ...options.channelOptions,
    };
    this.interceptors = [this.defaults()];
    // The first stub owns the channel; every other stub shares it through channelOverride.
    this.base = new NamespaceServiceClient(target, this.credentials, { ...channelOptions, interceptors: this.interceptors });
    this.namespaces = this.service(NamespaceServiceClient);
    this.connection = this.service(ConnectionServiceClient);
    this.blobs = this.service(BlobServiceClient);
    this.records = this.service(RecordServiceClient);
    this.cache = this.service(CacheServiceClient);
    this.opStore = this.service(OpStoreServiceClient);
  }

  /** The channel every stub of this client shares. */
  get channel(): ReturnType<Client["getChannel"]> {
    return this.base.getChannel();
  }

  /** A raw generated stub (callback API) on this client's channel, with its deadline and token. */
  stub<S>(ctor: StubClass<S>): S {
    return new ctor(this.target, this.credentials, { channelOverride: this.channel as never, interceptors: this.interceptors });
  }

  /** A generated service whose methods return Promises (unary) or AsyncIterables (server streams). */
  service<S>(ctor: StubClass<S>): Promised<S> {
    const stub = this.stub(ctor) as Record<string, (...args: unknown[]) => unknown>;
    const methods: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(ctor.service)) {
      const fn = stub[name].bind(stub);
      if (def.requestStream) continue; // client streams: use stub() directly
      methods[name] = def.responseStream
        ? (request: unknown, opts?: CallOpts) => readStream(fn(request, new Metadata(), this.callOptions(opts)) as ClientReadableStream<unknown>)
        : (request: unknown, opts?: CallOpts) =>
            new Promise((resolve, reject) => {
              const call = fn(request, new Metadata(), this.callOptions(opts), (err: ServiceError | null, res: unknown) =>
                err ? reject(toArtimetaError(err)) : resolve(res),
              ) as ClientUnaryCall;
              opts?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
            });
    }
    return methods as Promised<S>;
  }

  private callOptions(opts?: CallOpts): Partial<CallOptions> {
    return opts?.timeoutMs !== undefined ? { deadline: Date.now() + opts.timeoutMs } : {};
  }

  /** Adds the default deadline (unary calls only: streams may rightly take long), the bearer token,
   *  and a request_id to the mutations that take one (once per call: gRPC's retries resend it). */
  private defaults(): Interceptor {
    return (options, nextCall) => {
      const def = options.method_definition;
      const unary = !def.requestStream && !def.responseStream;
      const withDeadline = unary && options.deadline === undefined ? { ...options, deadline: Date.now() + this.timeoutMs } : options;
      return new InterceptingCall(nextCall(withDeadline), {
        start: (metadata, listener, next) => {
          if (this.token) metadata.set("authorization", `Bearer ${this.token}`);
          next(metadata, listener);
        },
        sendMessage: (message, next) => next(unary ? withRequestId(def.path, message) : message),
      });
    };
  }

  async createNamespace(name: string, spec: { description?: string; labels?: Record<string, string> } = {}): Promise<Namespace> {
    const res = await this.namespaces.createNamespace({
      namespace: { name, description: spec.description ?? "", labels: spec.labels ?? {} },
      requestId: "", // filled by the client, once per call
    });
    return res.namespace!;
  }

  async getNamespace(name: string): Promise<Namespace> {
    return (await this.namespaces.getNamespace({ name, consistency: ReadConsistency.READ_CONSISTENCY_UNSPECIFIED })).namespace!;
  }

  /** Every namespace in name order, fetched in pages of pageSize (0: the server's default). */
  async *listNamespaces(pageSize = 0): AsyncGenerator<Namespace> {
    let pageToken = "";
    do {
      const page = await this.namespaces.listNamespaces({ pageSize, pageToken });
      yield* page.namespaces;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  deleteNamespace(name: string, options: { allowMissing?: boolean } = {}): Promise<DeleteNamespaceResponse> {
    return this.namespaces.deleteNamespace({ name, allowMissing: options.allowMissing ?? false, requestId: "" });
  }

  /** Streams data into the namespace's blob store; the server verifies it against its digest. */
  putBlob(namespace: string, data: Buffer, opts?: CallOpts): Promise<Digest> {
    const digest = digestOf(data);
    // Stubs share this client's channel: closing one would close it for all, so none is closed.
    const stub = this.stub(BlobServiceClient);
    return new Promise((resolve, reject) => {
      const call = stub.upload(new Metadata(), this.callOptions(opts), (err, res) =>
        err ? reject(toArtimetaError(err)) : resolve(res.digest!),
      );
      for (let off = 0; off === 0 || off < data.length; off += UPLOAD_CHUNK_BYTES) {
        const chunk = data.subarray(off, off + UPLOAD_CHUNK_BYTES);
        call.write(off === 0 ? { namespace, digest, data: chunk } : { namespace: "", data: chunk });
      }
      call.end();
    });
  }

  /** Downloads a whole blob and checks it against its digest (a mismatch is DATA_LOSS). */
  async getBlob(namespace: string, digest: Digest, opts?: CallOpts): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.blobs.download({ namespace, digest, offset: "0", length: "0" }, opts)) chunks.push(chunk.data);
    const data = Buffer.concat(chunks);
    const got = digestOf(data);
    if (got.hash !== digest.hash || got.sizeBytes !== digest.sizeBytes) {
      throw new ArtimetaError(status.DATA_LOSS, "DIGEST_MISMATCH", `downloaded ${data.length} bytes with sha256 ${got.hash}, expected ${digest.hash}`);
    }
    return data;
  }

  close(): void {
    this.base.close();
  }
}

async function* readStream<T>(stream: ClientReadableStream<T>): AsyncIterable<T> {
  try {
    for await (const item of stream) yield item as T;
  } catch (err) {
    throw toArtimetaError(err);
  } finally {
    stream.cancel();
  }
}
