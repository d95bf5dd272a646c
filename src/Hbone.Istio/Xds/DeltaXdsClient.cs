using Google.Protobuf;
using Grpc.Core;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Protos.Envoy.Core;
using Hbone.Istio.Protos.Envoy.Discovery;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Istio.Xds;

/// <summary>
/// A delta ADS client (<c>DeltaAggregatedResources</c>) as ztunnel runs it: wildcard subscriptions, every response ACKed or
/// NACKed, reconnects forever with backoff, and the resources held announced on each new stream.
/// </summary>
/// <remarks>
/// <see cref="Ready"/> completes when the first response of every subscribed type has been applied, whether ACKed or
/// NACKed: a NACK still applies every valid resource, so the proxy knows the mesh (ztunnel waits for an ACK, which one
/// bad resource would delay forever).
/// </remarks>
public sealed partial class DeltaXdsClient : IAsyncDisposable
{
    private readonly ControlPlaneChannel _channel;
    private readonly XdsClientOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<string, XdsSubscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _state;
    private long _attempts, _connects, _responses, _acks, _nacks, _failures;

    /// <summary>Creates the client; nothing is sent until <see cref="Start"/>.</summary>
    /// <param name="channel">The channel to istiod (owned by the caller).</param>
    /// <param name="options">The node and backoff.</param>
    /// <param name="logger">Where to log; none when null.</param>
    /// <exception cref="IstioException">The options are invalid (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    public DeltaXdsClient(ControlPlaneChannel channel, XdsClientOptions options, ILogger<DeltaXdsClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _channel = channel;
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Raised on the receive loop when <see cref="State"/> changes.</summary>
    public event EventHandler<XdsConnectionState>? StateChanged;

    /// <summary>Completes once the first response of every subscribed type was applied; never faults (pending while no control plane answers).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Where the stream is now.</summary>
    public XdsConnectionState State => (XdsConnectionState)Volatile.Read(ref _state);

    /// <summary>The counters so far.</summary>
    public XdsClientStatistics Statistics => new(
        Interlocked.Read(ref _attempts), Interlocked.Read(ref _connects), Interlocked.Read(ref _responses),
        Interlocked.Read(ref _acks), Interlocked.Read(ref _nacks), Interlocked.Read(ref _failures));

    /// <summary>Subscribes to every resource of a type (wildcard); call before <see cref="Start"/>.</summary>
    /// <typeparam name="T">The resource message.</typeparam>
    /// <param name="typeUrl">The type URL, e.g. <see cref="XdsTypeUrls.Address"/>.</param>
    /// <param name="handler">Applies the batches of this type.</param>
    /// <exception cref="InvalidOperationException">The client was started, or the type is already subscribed.</exception>
    public void Subscribe<T>(string typeUrl, IXdsHandler<T> handler)
        where T : IMessage<T>, new()
    {
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        ArgumentNullException.ThrowIfNull(handler);
        if (_loop is not null)
        {
            throw new InvalidOperationException("subscribe before Start()");
        }

        if (!_subscriptions.TryAdd(typeUrl, new XdsSubscription<T>(typeUrl, handler)))
        {
            throw new InvalidOperationException($"{typeUrl} is already subscribed");
        }
    }

    /// <summary>Starts the stream in the background; it reconnects until the client is disposed.</summary>
    /// <exception cref="IstioException">The node's JSON metadata is invalid (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public void Start()
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("already started");
        }

        Node node = _options.Node.ToProto();
        if (_subscriptions.Count == 0)
        {
            _ready.TrySetResult();
        }

        _loop = Task.Run(() => RunAsync(node, _stop.Token));
    }

    /// <summary>Stops the stream and waits for the loop to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        SetState(XdsConnectionState.Stopped);
        _stop.Dispose();
    }

    private async Task RunAsync(Node node, CancellationToken stop)
    {
        XdsBackoff backoff = new(_options.InitialBackoff, _options.MaxBackoff, Random.Shared);
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(_channel.Channel);
        while (!stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _attempts);
            SetState(XdsConnectionState.Connecting);
            string outcome;
            Exception? error = null;
            try
            {
                outcome = await RunStreamAsync(client, node, backoff, stop).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Whatever ended the stream (e.g. writing the ACK after the server completed the call) is one more lost stream, never the end of the loop.
                (outcome, error) = DescribeLostStream(ex);
            }

            Interlocked.Increment(ref _failures);
            SetState(XdsConnectionState.Backoff);
            TimeSpan delay = backoff.Next();
            Log.Disconnected(_logger, outcome, delay.TotalMilliseconds, error);
            try
            {
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// How a lost stream is logged: an expected outage (a gRPC status, a token not there yet, the connection closed or reset
    /// under a call, as when istiod shuts down) as one line with no stack trace on every retry; anything else with its exception.
    /// </summary>
    internal static (string Outcome, Exception? Error) DescribeLostStream(Exception ex) => ex switch
    {
        RpcException rpc => (rpc.Status.DebugException is { } cause ? $"{rpc.StatusCode}: {rpc.Status.Detail} ({cause.Message})" : $"{rpc.StatusCode}: {rpc.Status.Detail}", null),
        IstioException { Reason: IstioErrorReason.TokenUnavailable } => (ex.Message, null),
        HttpRequestException or IOException => (ex.InnerException is { } inner ? $"{ex.GetType().Name}: {ex.Message} ({inner.Message})" : $"{ex.GetType().Name}: {ex.Message}", null),
        _ => ($"{ex.GetType().Name}: {ex.Message}", ex),
    };

    /// <summary>One stream; returns how it ended when the server closed it, throws on a failed call.</summary>
    private async Task<string> RunStreamAsync(AggregatedDiscoveryService.AggregatedDiscoveryServiceClient client, Node node, XdsBackoff backoff, CancellationToken stop)
    {
        Metadata headers = _channel.CreateHeaders();
        using AsyncDuplexStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call = client.DeltaAggregatedResources(headers, cancellationToken: stop);
        foreach (XdsSubscription subscription in _subscriptions.Values)
        {
            DeltaDiscoveryRequest request = new() { Node = node, TypeUrl = subscription.TypeUrl };
            request.InitialResourceVersions.Add(subscription.SnapshotHeld());
            await call.RequestStream.WriteAsync(request, stop).ConfigureAwait(false);
        }

        bool connected = false;
        while (await call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
        {
            if (!connected)
            {
                connected = true;
                backoff.Reset();
                Interlocked.Increment(ref _connects);
                SetState(XdsConnectionState.Connected);
                Log.Connected(_logger, _channel.Options.Address);
            }

            Interlocked.Increment(ref _responses);
            await call.RequestStream.WriteAsync(Answer(call.ResponseStream.Current), stop).ConfigureAwait(false);
        }

        // An OK end is still a lost stream: back off like any failure so a server that hangs up at once is not hammered (FT-04).
        Grpc.Core.Status status = call.GetStatus();
        return $"stream ended: {status.StatusCode} {status.Detail}";
    }

    private DeltaDiscoveryRequest Answer(DeltaDiscoveryResponse response)
    {
        DeltaDiscoveryRequest answer = new() { TypeUrl = response.TypeUrl, ResponseNonce = response.Nonce };
        string? error;
        if (_subscriptions.TryGetValue(response.TypeUrl, out XdsSubscription? subscription))
        {
            IReadOnlyList<XdsRejection> rejections = subscription.Apply(response);
            error = rejections.Count == 0 ? null : string.Join("; ", rejections);
            subscription.FirstApplied = true;
            CheckReady();
        }
        else
        {
            // NACK, not ztunnel's silent ACK: an ACK would tell istiod we hold resources we dropped.
            error = $"no subscription for type {response.TypeUrl}";
        }

        if (error is null)
        {
            Interlocked.Increment(ref _acks);
        }
        else
        {
            Interlocked.Increment(ref _nacks);
            answer.ErrorDetail = new Protos.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = error };
            Log.Nack(_logger, response.TypeUrl, response.Nonce, error);
        }

        return answer;
    }

    private void CheckReady()
    {
        foreach (XdsSubscription subscription in _subscriptions.Values)
        {
            if (!subscription.FirstApplied)
            {
                return;
            }
        }

        _ready.TrySetResult();
    }

    private void SetState(XdsConnectionState state)
    {
        if (Interlocked.Exchange(ref _state, (int)state) != (int)state)
        {
            StateChanged?.Invoke(this, state);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "xDS stream to {Address} connected")]
        public static partial void Connected(ILogger logger, Uri address);

        [LoggerMessage(2, LogLevel.Warning, "xDS NACK for {TypeUrl} (nonce {Nonce}): {Error}")]
        public static partial void Nack(ILogger logger, string typeUrl, string nonce, string error);

        [LoggerMessage(3, LogLevel.Warning, "xDS stream disconnected ({Status}); reconnecting in {BackoffMilliseconds:0} ms")]
        public static partial void Disconnected(ILogger logger, string status, double backoffMilliseconds, Exception? exception);
    }
}
