using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using Hbone.Http2;
using Hbone.Http2.Hpack;
using Hbone.Kestrel.Tls;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// The server side of one HTTP/2 connection (RFC 9113) carrying HBONE CONNECT streams. One read loop parses
/// frames from the transport; streams are handled on the thread pool; every write goes into the transport
/// writer under <see cref="_lock"/>, which also guards stream state and windows.
/// </summary>
internal sealed partial class Http2ServerConnection
{
    private const int DefaultWindow = 65535;
    private const int MaxOutputBacklog = 1024 * 1024;
    private const int MaxTooLargeAnswers = 8;
    private const int MaxContinuations = 32;

    private readonly ConnectionContext _context;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly HboneServerOptions _options;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Dictionary<int, Http2ServerStream> _streams = [];
    private readonly HpackDecoder _decoder;
    private readonly RequestHeaderValidator _headers = new();
    private readonly StreamReaderScheduler _streamReaderScheduler;
    private readonly TaskCompletionSource _handlersDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _highestStreamId;
    private int _lastProcessedStreamId;
    private long _connectionSendWindow = DefaultWindow;
    private int _peerInitialWindow = DefaultWindow;
    private long _connectionReceiveWindow;
    private int _connectionReceiveUnacknowledged;
    private int _connectionDataFramesUnanswered;

    // DATA frames of closed streams not yet answered: a peer's WINDOW_UPDATE for them may still be in flight.
    private int _closedStreamDataFramesUnanswered;

    private AbuseBudget _resets = new(100, TimeSpan.FromSeconds(10), freeAllowance: 200);
    private AbuseBudget _flood = new(1000, TimeSpan.FromSeconds(10));
    private int _tooLargeAnswers;

    private bool _goAwaySent;

    // Set when the peer sent SETTINGS_HEADER_TABLE_SIZE: the next header block starts with a table size update.
    private bool _tableSizeUpdatePending;
    private bool _closed;
    private bool _gracefulClose;
    private bool _peerGoAway;
    private Http2ProtocolException? _pendingError;
    private string? _abortReason;
    private int _activeHandlers;

    public Http2ServerConnection(ConnectionContext context, HboneServerOptions options, HboneConnectDispatcher dispatcher, ILogger logger)
    {
        _context = context;
        _input = context.Transport.Input;
        _output = context.Transport.Output;
        _options = options;
        Dispatcher = dispatcher;
        _logger = logger;
        // Wakes the streams' readers (Http2StreamInput); with inline scheduling, on the read loop after a small read.
        _streamReaderScheduler = new StreamReaderScheduler(options.UnsafePreferInlineScheduling);
        _decoder = new HpackDecoder(4096, options.MaxRequestHeadersTotalSize);
        _connectionReceiveWindow = DefaultWindow;
        PeerIdentity = context.Features.Get<IHbonePeerIdentityFeature>();
        LocalEndPoint = context.LocalEndPoint as IPEndPoint;
        RemoteEndPoint = context.RemoteEndPoint as IPEndPoint;
        _started = Stopwatch.GetTimestamp();
        _lastReceived = _started;
    }

    public HboneConnectDispatcher Dispatcher { get; }

    public IHbonePeerIdentityFeature? PeerIdentity { get; }

    public IPEndPoint? LocalEndPoint { get; }

    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>Runs the connection until it closes. Never throws for peer behaviour.</summary>
    public async Task RunAsync()
    {
        var tls = _context.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ITlsApplicationProtocolFeature>();
        if (tls is null || !tls.ApplicationProtocol.Span.SequenceEqual("h2"u8))
        {
            // HBONE is h2 only: without ALPN h2 nothing was agreed, so nothing is written.
            return;
        }

        using var closing = _context.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested.Register(static s => ((Http2ServerConnection)s!).BeginDrain(), this);
        using var stopping = Dispatcher.Stopping.Register(static s => ((Http2ServerConnection)s!).BeginDrain(), this);
        var heartbeat = HeartbeatAsync();
        Http2ProtocolException? error = null;
        try
        {
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (Http2ProtocolException ex)
        {
            error = ex;
        }
        catch (HpackDecodingException ex)
        {
            error = new Http2ProtocolException(Http2ErrorCode.CompressionError, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The transport went away (peer closed, Kestrel aborted at the shutdown deadline).
            _abortReason ??= ex.Message;
        }
        catch (Exception ex)
        {
            // A fault of the engine itself, not of the peer: the connection ends with INTERNAL_ERROR.
            EngineFailed(_logger, _context.RemoteEndPoint?.ToString() ?? "unknown", ex);
            error = new Http2ProtocolException(Http2ErrorCode.InternalError, ex.GetType().Name);
        }

        if (error is not null)
        {
            if (error.ErrorCode != Http2ErrorCode.InternalError)
            {
                ProtocolErrorLog.ConnectionError(_logger, _context.RemoteEndPoint, error.ErrorCode, error.Message);
            }

            lock (_lock)
            {
                WriteGoAwayLocked(error.ErrorCode);
            }
        }

        await ShutdownAsync(lingerAfterError: error is not null).ConfigureAwait(false);
        await heartbeat.ConfigureAwait(false);
    }

    /// <summary>Host stopping: GOAWAY NO_ERROR with the last stream handled, later streams refused, open tunnels run on.</summary>
    public void BeginDrain()
    {
        lock (_lock)
        {
            if (_closed || _goAwaySent)
            {
                return;
            }

            WriteGoAwayLocked(Http2ErrorCode.NoError);
            _ = FlushLocked();
            CloseIfIdleLocked();
        }
    }

    /// <summary>Called when a handler finished; the last one ends a draining connection.</summary>
    public void OnHandlerCompleted()
    {
        lock (_lock)
        {
            if (--_activeHandlers == 0 && _closed)
            {
                _handlersDone.TrySetResult();
            }

            CloseIfIdleLocked();
        }
    }

    private void CloseIfIdleLocked()
    {
        if ((_goAwaySent || _peerGoAway) && !_closed && _streams.Count == 0 && _activeHandlers == 0)
        {
            _gracefulClose = true;
            _input.CancelPendingRead();
        }
    }

    /// <summary>Ends the connection from outside the read loop: a timeout, or output the peer does not read.</summary>
    private void FailLocked(Http2ProtocolException? error, string reason)
    {
        if (_closed)
        {
            return;
        }

        _pendingError ??= error;
        _abortReason ??= reason;
        _input.CancelPendingRead();
    }

    private async Task ShutdownAsync(bool lingerAfterError)
    {
        List<Http2ServerStream>? streams = null;
        Task flush;
        lock (_lock)
        {
            _closed = true;
            StopHeartbeatLocked();
            if (_streams.Count > 0)
            {
                streams = [.. _streams.Values];
                _streams.Clear();
            }

            var reason = new ConnectionAbortedException(_abortReason ?? "The HTTP/2 connection closed.");
            if (streams is not null)
            {
                foreach (var stream in streams)
                {
                    stream.Removed = true;
                    stream.AbortLocked(reason);
                }
            }

            if (_activeHandlers == 0)
            {
                _handlersDone.TrySetResult();
            }

            flush = _outputFailed ? Task.CompletedTask : FlushLocked();
        }

        // Handlers end promptly once aborted; their access-log entries are written before the connection goes.
        await WaitQuietlyAsync(_handlersDone.Task, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        if (!await WaitQuietlyAsync(flush, TimeSpan.FromSeconds(1)).ConfigureAwait(false))
        {
            // The peer does not read: what is left cannot be delivered.
            _context.Abort(new ConnectionAbortedException("The peer does not read."));
        }

        lock (_lock)
        {
            _outputFailed = true;
            _overflow.Dispose();
        }

        if (lingerAfterError)
        {
            await DiscardUnreadInputAsync().ConfigureAwait(false);
        }

        await _output.CompleteAsync().ConfigureAwait(false);
        await _input.CompleteAsync().ConfigureAwait(false);
        if (_abortReason is not null && _pendingError is null && !_gracefulClose)
        {
            _context.Abort(new ConnectionAbortedException(_abortReason));
        }
    }

    // Closing a socket with unread input makes the kernel send RST, and a peer's kernel drops what it had not read
    // yet on RST: the GOAWAY just written would be lost. A peer that kept sending (a flood) gets its input read and
    // discarded for a moment, bounded in time and bytes, so the close is a FIN after the GOAWAY.
    private async Task DiscardUnreadInputAsync()
    {
        const long maxDiscarded = 1024 * 1024;
        using var linger = new CancellationTokenSource(TimeSpan.FromMilliseconds(250));
        long discarded = 0;
        try
        {
            while (discarded < maxDiscarded)
            {
                var result = await _input.ReadAsync(linger.Token).ConfigureAwait(false);
                discarded += result.Buffer.Length;
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException or InvalidOperationException)
        {
            // Quiet peer, closed transport or the time is up: close now.
        }
    }

    [LoggerMessage(21, LogLevel.Error, "The HTTP/2 engine failed on the connection with {Peer}.", EventName = "Http2EngineFailed")]
    private static partial void EngineFailed(ILogger logger, string peer, Exception exception);

    private static async Task<bool> WaitQuietlyAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or ConnectionAbortedException)
        {
            return true;
        }
    }
}
