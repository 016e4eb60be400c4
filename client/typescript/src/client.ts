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
  credentials,
  type Interceptor,
  InterceptingCall,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { toArtimetaError } from "./errors";
import { ConnectionServiceClient } from "./gen/artimeta/v1/connection";
import {
  type DeleteNamespaceResponse,
  type Namespace,
  NamespaceServiceClient,
} from "./gen/artimeta/v1/namespace";

export const DEFAULT_TIMEOUT_MS = 30_000;
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Retries UNAVAILABLE through the gRPC service config (the same policy in every language). */
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

/** A generated stub with every unary method returning a Promise and every server stream an AsyncIterable. */
export type Promised<S> = {
  // Streams first: a stream's signature would also pass for a unary one (fewer parameters).
  [K in Exclude<keyof S, keyof Client>]: S[K] extends StreamMethod<infer Req, infer Res>
    ? (request: Req, options?: CallOpts) => AsyncIterable<Res>
    : S[K] extends UnaryMethod<infer Req, infer Res>
      ? (request: Req, options?: CallOpts) => Promise<Res>
      : never;
};

type StubClass<S> = {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): S;
  service: Record<string, { responseStream: boolean; requestStream: boolean }>;
};

function serviceConfig(retry: RetryPolicy): string {
  return JSON.stringify({
    methodConfig: [
      {
        name: [{}],
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

  /** Adds the default deadline (unary calls only: streams may rightly take long) and the bearer token. */
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
      });
    };
  }

  async createNamespace(name: string, spec: { description?: string; labels?: Record<string, string> } = {}): Promise<Namespace> {
    const res = await this.namespaces.createNamespace({
      namespace: { name, description: spec.description ?? "", labels: spec.labels ?? {} },
    });
    return res.namespace!;
  }

  async getNamespace(name: string): Promise<Namespace> {
    return (await this.namespaces.getNamespace({ name })).namespace!;
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
    return this.namespaces.deleteNamespace({ name, allowMissing: options.allowMissing ?? false });
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
