using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Hbone.Http2;
using Hbone.Identity;
using Hbone.Protocol;
using Hbone.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Hbone.Client;

/// <summary>
/// Opens HBONE tunnels over pooled HTTP/2 connections: one CONNECT stream per tunnel, connections shared only
/// within a pool key (source identity, expected server identities, destination, source address).
/// </summary>
public sealed partial class HboneClient : IAsyncDisposable
{
    private const int MaxStreamAttempts = 3;

    private readonly HboneClientOptions _options;
    private readonly ILogger _logger;
    private readonly HboneClientMetrics _metrics;
    private readonly HboneConnectionPool _pool;
    private readonly ClientTls _tls;
    private readonly ResiliencePipeline _dialPipeline;
    private readonly Http2ConnectionSettings _settings;

    /// <summary>Creates a client; <paramref name="options"/> are validated here.</summary>
    public HboneClient(HboneClientOptions options, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
        : this(options, loggerFactory, meterFactory, firstStreamId: 1)
    {
    }

    /// <summary>A client whose new connections start at <paramref name="firstStreamId"/>: how stream-id exhaustion is reached without 2^30 streams.</summary>
    internal HboneClient(HboneClientOptions options, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory, int firstStreamId)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = loggerFactory?.CreateLogger<HboneClient>() ?? NullLogger<HboneClient>.Instance;
        _metrics = new HboneClientMetrics(meterFactory);
        _pool = new HboneConnectionPool(options, _metrics.ConnectionClosed);
        _tls = new ClientTls(options);
        _dialPipeline = CreateDialPipeline(options);
        _settings = new Http2ConnectionSettings
        {
            InitialStreamWindowSize = options.InitialStreamWindowSize,
            InitialConnectionWindowSize = options.InitialConnectionWindowSize,
            MaxFrameSize = options.MaxFrameSize,
            MaxHeaderListSize = options.MaxResponseHeadersSize,
            MaxConcurrentStreams = options.MaxStreamsPerConnection,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            TimeProvider = options.TimeProvider,
            FirstStreamId = firstStreamId,
            PreferInlineScheduling = options.UnsafePreferInlineScheduling,
        };
    }

    internal HboneConnectionPool Pool => _pool;

    /// <summary>
    /// Opens a tunnel and returns it once the server answered 200. Other statuses throw
    /// <see cref="HboneConnectException"/>; dial and TLS failures throw <see cref="HboneException"/>.
    /// </summary>
    public async ValueTask<HboneStream> ConnectAsync(HboneRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var certificate = (request.Source ?? _options.Certificate
            ?? throw new InvalidOperationException("The request names no source identity and HboneClientOptions.Certificate is not set.")).GetSvid();
        using var activity = HboneClientMetrics.ActivitySource.StartActivity("hbone.connect", ActivityKind.Client);
        activity?.SetTag("server.address", request.Destination.ToString());
        activity?.SetTag("hbone.authority", request.Authority.ToString());
        var traceParent = request.TraceParent
            ?? (activity is null ? TraceParent.CreateRandom() : new TraceParent(activity.TraceId, activity.SpanId, activity.ActivityTraceFlags));
        try
        {
            var stream = request.Gateway is null
                ? await ConnectDirectAsync(request, certificate, traceParent, cancellationToken).ConfigureAwait(false)
                : await ConnectThroughGatewayAsync(request, certificate, traceParent, cancellationToken).ConfigureAwait(false);
            _metrics.StreamOpened();
            return stream;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var errorType = ex is HboneConnectException refused ? refused.ResponseStatus.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : ex is HboneException hbone ? hbone.Reason.ToString() : ex.GetType().Name;
            _metrics.StreamFailed(errorType);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.SetTag("error.type", errorType);
            throw;
        }
    }

    private async ValueTask<HboneStream> ConnectDirectAsync(HboneRequest request, Svid certificate, TraceParent traceParent, CancellationToken cancellationToken)
    {
        var key = HbonePoolKey.For(certificate.Id, request.ExpectedIdentities, request.Destination, request.SourceAddress);
        var authority = request.Authority.ToString();
        var block = ConnectHeaders.Encode(request, authority, traceParent, forwardedNetwork: null, out var length);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var pooled = await _pool.AcquireAsync(key, certificate, token => DialAsync(request, key, certificate, token), cancellationToken).ConfigureAwait(false);
                Http2ClientStream stream;
                try
                {
                    stream = pooled.Connection.OpenStream(block.AsSpan(0, length), endStream: false);
                }
                catch (HboneException) when (attempt < MaxStreamAttempts)
                {
                    // The connection went away between the reservation and the open: no byte was sent.
                    continue;
                }

                try
                {
                    return await AwaitTunnelAsync(stream, authority, traceParent, owned: null, cancellationToken).ConfigureAwait(false);
                }
                catch (Http2StreamResetException ex) when (ex.IsRetryable && attempt < MaxStreamAttempts)
                {
                    // REFUSED_STREAM or beyond a GOAWAY's last id: not processed, so safe on another connection.
                    Log.StreamRetried(_logger, authority, ex.ErrorCode);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private async ValueTask<HboneStream> AwaitTunnelAsync(Http2ClientStream stream, string authority, TraceParent traceParent, IAsyncDisposable? owned, CancellationToken cancellationToken)
    {
        Http2Response response;
        try
        {
            response = await stream.Response.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stream.Abort(Http2ErrorCode.Cancel);
            throw;
        }

        if (response.Status != 200)
        {
            // Anything but 200 is a refusal; the stream is finished either way.
            stream.Abort(Http2ErrorCode.Cancel);
            throw new HboneConnectException(response.Status, authority);
        }

        return new HboneStream(stream, response, traceParent, _metrics, owned);
    }

    /// <summary>Double HBONE: an outer pooled CONNECT to the gateway, then TLS + HTTP/2 inside it to the workload.</summary>
    private async ValueTask<HboneStream> ConnectThroughGatewayAsync(HboneRequest request, Svid certificate, TraceParent traceParent, CancellationToken cancellationToken)
    {
        var gateway = request.Gateway!;
        var outer = await ConnectDirectAsync(
            new HboneRequest
            {
                Destination = gateway.Destination,
                Authority = request.Authority,
                ExpectedIdentities = gateway.ExpectedIdentities,
                Source = request.Source,
                ForwardedFor = request.ForwardedFor,
                ForwardedHost = request.ForwardedHost,
                Baggage = request.Baggage,
                SourceAddress = request.SourceAddress,
            },
            certificate,
            traceParent,
            cancellationToken).ConfigureAwait(false);

        Http2ClientConnection? inner = null;
        try
        {
            var tls = new SslStream(outer, leaveInnerStreamOpen: false);
            await AuthenticateAsync(tls, certificate, request.ExpectedIdentities, request.Destination, cancellationToken).ConfigureAwait(false);
            inner = await Http2ClientConnection.StartAsync(tls, _settings, _logger, cancellationToken).ConfigureAwait(false);
            if (!inner.TryReserveStream())
            {
                throw new HboneException(HboneErrorReason.ConnectionFailed, "The inner HTTP/2 connection takes no streams.");
            }

            var authority = request.Authority.ToString();
            var block = ConnectHeaders.Encode(request, authority, traceParent, gateway.Network, out var length);
            Http2ClientStream stream;
            try
            {
                stream = inner.OpenStream(block.AsSpan(0, length), endStream: false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }

            return await AwaitTunnelAsync(stream, authority, traceParent, owned: inner, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (inner is not null)
            {
                await inner.DisposeAsync().ConfigureAwait(false);
            }

            await outer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<PooledConnection> DialAsync(HboneRequest request, HbonePoolKey key, Svid certificate, CancellationToken cancellationToken)
    {
        try
        {
            return await _dialPipeline.ExecuteAsync(
                static async (state, token) =>
                {
                    var (client, request, key, certificate) = state;
                    return await client.DialOnceAsync(request, key, certificate, token).ConfigureAwait(false);
                },
                (this, request, key, certificate),
                cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException ex)
        {
            // A silent drop of port 15008 (a network policy) looks exactly like this.
            throw new HboneException(HboneErrorReason.ConnectionFailed,
                $"Dialing {key.Destination} timed out after {_options.ConnectTimeout.TotalSeconds:0.#} s (is the HBONE port blocked, maybe by a network policy?).", ex);
        }
        catch (SocketException ex)
        {
            throw new HboneException(HboneErrorReason.ConnectionFailed, $"Cannot connect to {key.Destination}: {ex.SocketErrorCode}.", ex);
        }
        catch (IOException ex)
        {
            throw new HboneException(HboneErrorReason.ConnectionFailed, $"The connection to {key.Destination} failed during the TLS handshake: {ex.Message}", ex);
        }
    }

    private async Task<PooledConnection> DialOnceAsync(HboneRequest request, HbonePoolKey key, Svid certificate, CancellationToken cancellationToken)
    {
        var socket = _options.CreateSocket?.Invoke(new HboneDialContext(key.Destination, key.SourceAddress, key.Source))
            ?? new Socket(key.Destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ConfigureSocket(socket, key);
            await socket.ConnectAsync(key.Destination, cancellationToken).ConfigureAwait(false);
            var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
            await AuthenticateAsync(tls, certificate, request.ExpectedIdentities, key.Destination, cancellationToken).ConfigureAwait(false);
            var connection = await Http2ClientConnection.StartAsync(tls, _settings, _logger, cancellationToken).ConfigureAwait(false);
            _metrics.ConnectionOpened();
            Log.ConnectionOpened(_logger, key.ToString());
            return new PooledConnection(connection, certificate, _options.TimeProvider.GetTimestamp());
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void ConfigureSocket(Socket socket, HbonePoolKey key)
    {
        socket.NoDelay = true;

        // ztunnel's keepalive: 180 s idle, 180 s interval, 9 probes.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 180);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 180);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 9);
        if (key.SourceAddress is { } source && !socket.IsBound)
        {
            socket.Bind(new System.Net.IPEndPoint(source, 0));
        }
    }

    /// <summary>The TLS handshake; a refused server certificate becomes an <see cref="HboneException"/> saying why (ID-08).</summary>
    private async Task AuthenticateAsync(SslStream tls, Svid certificate, IReadOnlyCollection<SpiffeId> expected, System.Net.IPEndPoint server, CancellationToken cancellationToken)
    {
        var rejection = new System.Runtime.CompilerServices.StrongBox<string?>();
        try
        {
            await tls.AuthenticateAsClientAsync(_tls.Create(certificate, expected, rejection), cancellationToken).ConfigureAwait(false);
        }
        catch (System.Security.Authentication.AuthenticationException ex)
        {
            var reason = rejection.Value ?? ex.Message;
            throw new HboneException(rejection.Value is null ? HboneErrorReason.ConnectionFailed : HboneErrorReason.InvalidSvid,
                $"TLS handshake with {server} failed: {reason}.", ex);
        }

        RequireH2(tls);
    }

    private static void RequireH2(SslStream tls)
    {
        if (tls.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
        {
            throw new HboneException(HboneErrorReason.ConnectionFailed, "The server did not negotiate ALPN h2.");
        }
    }

    private static ResiliencePipeline CreateDialPipeline(HboneClientOptions options)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider };
        if (options.MaxDialRetries > 0)
        {
            // Only failures before any tunnel byte: TCP connect errors, resets during TLS, attempt timeouts.
            // Identity mismatches (AuthenticationException) are not retried.
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<SocketException>().Handle<IOException>().Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = options.MaxDialRetries,
                Delay = options.DialRetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        builder.AddTimeout(new TimeoutStrategyOptions
        {
            Timeout = options.ConnectTimeout,
            OnTimeout = _ => default,
        });
        return builder.Build();
    }

    /// <summary>
    /// Drains the pooled connections opened from <paramref name="sourceAddress"/>, as a node proxy does when that pod
    /// goes away: they leave the pool, each sends GOAWAY and carries no new tunnel, and each closes once its open
    /// tunnels have ended. Any still carrying tunnels when <paramref name="cancellationToken"/> fires is closed then
    /// (those tunnels fail).
    /// </summary>
    /// <param name="sourceAddress">The <see cref="HboneRequest.SourceAddress"/> the connections were opened with.</param>
    /// <param name="cancellationToken">The end of the grace period.</param>
    /// <returns>The number of connections drained.</returns>
    public Task<int> DrainConnectionsAsync(IPAddress sourceAddress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourceAddress);
        return DrainAsync(key => sourceAddress.Equals(key.SourceAddress), cancellationToken);
    }

    /// <summary>
    /// Drains the pooled connections opened with <paramref name="source"/>'s certificate (any source address), as
    /// <see cref="DrainConnectionsAsync(IPAddress, CancellationToken)"/> does.
    /// </summary>
    /// <param name="source">The client identity the connections present.</param>
    /// <param name="cancellationToken">The end of the grace period.</param>
    /// <returns>The number of connections drained.</returns>
    public Task<int> DrainConnectionsAsync(SpiffeId source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        return DrainAsync(key => key.Source == source, cancellationToken);
    }

    /// <summary>Closes every pooled connection; open tunnels fail.</summary>
    public async ValueTask DisposeAsync()
    {
        await _pool.DisposeAsync().ConfigureAwait(false);
        _metrics.Dispose();
    }

    private async Task<int> DrainAsync(Func<HbonePoolKey, bool> match, CancellationToken cancellationToken)
    {
        List<PooledConnection> retired = _pool.Retire(match);
        await Task.WhenAll(retired.Select(pooled => DrainOneAsync(pooled.Connection, cancellationToken))).ConfigureAwait(false);
        return retired.Count;

        static async Task DrainOneAsync(Http2ClientConnection connection, CancellationToken cancellationToken)
        {
            await connection.StopAcceptingStreamsAsync().WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Debug, "HBONE connection opened: {Key}.", EventName = "ConnectionOpened")]
        public static partial void ConnectionOpened(ILogger logger, string key);

        [LoggerMessage(201, LogLevel.Debug, "CONNECT {Authority} refused before processing ({ErrorCode}); retrying on another connection.", EventName = "StreamRetried")]
        public static partial void StreamRetried(ILogger logger, string authority, Http2ErrorCode errorCode);
    }
}
