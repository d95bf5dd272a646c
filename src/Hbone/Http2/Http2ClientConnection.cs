using System.IO.Pipelines;
using Hbone.Http2.Hpack;
using Microsoft.Extensions.Logging;

namespace Hbone.Http2;

/// <summary>
/// The client side of one HTTP/2 connection carrying HBONE CONNECT streams. One reader loop dispatches the
/// peer's frames; one writer loop sends every frame, coalescing what callers appended meanwhile into one write.
/// All shared state is guarded by <see cref="_lock"/>; no await happens while holding it.
/// </summary>
internal sealed partial class Http2ClientConnection : IAsyncDisposable
{
    /// <summary>Past this many bytes waiting for the writer loop, DATA senders wait: bounded buffering.</summary>
    private const int MaxPendingBytes = 1024 * 1024;

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private readonly Stream _transport;
    private readonly PipeReader _input;
    private readonly Http2ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Dictionary<int, Http2ClientStream> _streams = [];
    private readonly HpackDecoder _decoder;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _peerSettingsReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeSignal = new(0);
    private readonly StreamReaderScheduler _streamReaderScheduler;

    private WriteBuffer _pending = new();
    private WriteBuffer _sending = new();
    private bool _writeScheduled;
    private bool _writing;
    private TaskCompletionSource? _drained;
    private TaskCompletionSource? _windowWaiters;

    private long _connectionSendWindow = 65535;
    private int _peerInitialWindow = 65535;
    private int _peerMaxFrameSize = FrameHeader.MinMaxFrameSize;
    private int _peerMaxConcurrentStreams = int.MaxValue;
    private long _connectionReceiveAvailable;
    private int _connectionReceiveUnacked;

    private int _nextStreamId;
    private int _highestStreamId;
    private int _reservedStreams;
    private int _goAwayLastStreamId = int.MaxValue;
    private bool _goAwayReceived;
    private bool _draining;
    private TaskCompletionSource? _streamsEnded;
    private Exception? _abortReason;
    private long _idleSinceTimestamp;

    private Task? _readLoop;
    private Task? _writeLoop;
    private Task? _pingLoop;

    private Http2ClientConnection(Stream transport, Http2ConnectionSettings settings, ILogger logger)
    {
        _transport = transport;
        _settings = settings;
        _logger = logger;
        // Zero-byte reads first: an idle connection then holds neither this reader's 64 KiB nor the TLS layer's buffer.
        _input = PipeReader.Create(transport, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true, useZeroByteReads: true));
        _decoder = new HpackDecoder(maxHeaderListSize: settings.MaxHeaderListSize);
        _nextStreamId = settings.FirstStreamId;
        _connectionReceiveAvailable = settings.InitialConnectionWindowSize;
        _idleSinceTimestamp = settings.TimeProvider.GetTimestamp();
        _streamReaderScheduler = new StreamReaderScheduler(settings.PreferInlineScheduling);
    }

    /// <summary>Completes when the connection is closed, for any reason.</summary>
    public Task Closed => _closed.Task;

    /// <summary>True while new streams may be opened: no GOAWAY, not aborted, stream ids left.</summary>
    public bool IsUsable
    {
        get
        {
            lock (_lock)
            {
                return IsUsableLocked;
            }
        }
    }

    /// <summary>Streams open or reserved.</summary>
    public int ActiveStreams
    {
        get
        {
            lock (_lock)
            {
                return _reservedStreams;
            }
        }
    }

    /// <summary>Streams this connection may carry at once: min(our cap, the peer's MAX_CONCURRENT_STREAMS).</summary>
    public int MaxStreams
    {
        get
        {
            lock (_lock)
            {
                return Math.Min(_settings.MaxConcurrentStreams, _peerMaxConcurrentStreams);
            }
        }
    }

    /// <summary>How long the connection has had no stream; zero while streams are open.</summary>
    public TimeSpan IdleTime
    {
        get
        {
            lock (_lock)
            {
                return _reservedStreams > 0 ? TimeSpan.Zero : _settings.TimeProvider.GetElapsedTime(_idleSinceTimestamp);
            }
        }
    }

    private bool IsUsableLocked => !_goAwayReceived && !_draining && _abortReason is null && _nextStreamId > 0;

    /// <summary>
    /// Sends GOAWAY(NO_ERROR) and opens no new stream; completes once the last open stream has ended (or the
    /// connection closed). The caller then disposes the connection.
    /// </summary>
    public Task StopAcceptingStreamsAsync()
    {
        lock (_lock)
        {
            if (_abortReason is not null)
            {
                return Task.CompletedTask;
            }

            if (!_draining)
            {
                _draining = true;
                AppendGoAwayLocked(0, Http2ErrorCode.NoError);
                ScheduleWriteLocked();
            }

            return _reservedStreams == 0 ? Task.CompletedTask : (_streamsEnded ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Sends the preface and SETTINGS, starts the loops and waits for the peer's SETTINGS.</summary>
    public static async Task<Http2ClientConnection> StartAsync(Stream transport, Http2ConnectionSettings settings, ILogger logger, CancellationToken cancellationToken)
    {
        var connection = new Http2ClientConnection(transport, settings, logger);
        connection.Start();
        try
        {
            await connection._peerSettingsReceived.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return connection;
    }

    private void Start()
    {
        lock (_lock)
        {
            _pending.Write(Preface);
            Span<byte> settings = stackalloc byte[4 * 6];
            WriteSetting(settings, 0, SettingId.EnablePush, 0);
            WriteSetting(settings, 1, SettingId.InitialWindowSize, (uint)_settings.InitialStreamWindowSize);
            WriteSetting(settings, 2, SettingId.MaxFrameSize, (uint)_settings.MaxFrameSize);
            WriteSetting(settings, 3, SettingId.MaxHeaderListSize, (uint)_settings.MaxHeaderListSize);
            AppendFrameLocked(FrameType.Settings, FrameFlags.None, 0, settings);
            if (_settings.InitialConnectionWindowSize > 65535)
            {
                // An increment of 0 is a connection error (RFC 9113 §6.9): nothing to send at the default size.
                AppendWindowUpdateLocked(0, _settings.InitialConnectionWindowSize - 65535);
            }

            ScheduleWriteLocked();
        }

        _writeLoop = Task.Run(WriteLoopAsync);
        _readLoop = Task.Run(ReadLoopAsync);
        _pingLoop = Task.Run(PingLoopAsync);
    }

    private static void WriteSetting(Span<byte> destination, int index, ushort id, uint value)
    {
        var slot = destination.Slice(index * 6, 6);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(slot, id);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(slot[2..], value);
    }

    /// <summary>Reserves room for one stream; false when the connection is full or no longer usable.</summary>
    public bool TryReserveStream()
    {
        lock (_lock)
        {
            if (!IsUsableLocked || _reservedStreams >= Math.Min(_settings.MaxConcurrentStreams, _peerMaxConcurrentStreams))
            {
                return false;
            }

            _reservedStreams++;
            return true;
        }
    }

    /// <summary>Gives back a reservation that was not used for a stream.</summary>
    public void ReleaseReservation()
    {
        lock (_lock)
        {
            ReleaseLocked();
        }
    }

    private void ReleaseLocked()
    {
        _reservedStreams--;
        if (_reservedStreams == 0)
        {
            _idleSinceTimestamp = _settings.TimeProvider.GetTimestamp();
            _streamsEnded?.TrySetResult();
        }
    }

    /// <summary>
    /// Opens a stream with an already encoded header block, on a reservation from <see cref="TryReserveStream"/>.
    /// The HEADERS (and CONTINUATION) frames are written with the id under the lock, so ids go out in order.
    /// </summary>
    public Http2ClientStream OpenStream(ReadOnlySpan<byte> headerBlock, bool endStream)
    {
        lock (_lock)
        {
            if (!IsUsableLocked)
            {
                ReleaseLocked();
                throw CreateUnusableException();
            }

            var id = _nextStreamId;
            _highestStreamId = id;

            // Past 2^31-1 no id is left: the connection retires and the pool dials a new one (H2-16).
            _nextStreamId = id > int.MaxValue - 2 ? -1 : id + 2;
            var stream = new Http2ClientStream(this, id, _peerInitialWindow, _settings.InitialStreamWindowSize, _streamReaderScheduler);
            _streams.Add(id, stream);
            AppendHeadersLocked(id, headerBlock, endStream);
            if (endStream)
            {
                stream.MarkLocalEnded();
            }

            ScheduleWriteLocked();
            return stream;
        }
    }

    private Exception CreateUnusableException() => _abortReason is { } reason
        ? new HboneException(HboneErrorReason.ConnectionFailed, "The HTTP/2 connection is closed.", reason)
        : new HboneException(HboneErrorReason.ConnectionFailed, _goAwayReceived ? "The server sent GOAWAY." : _draining ? "The connection is draining." : "The connection has no stream ids left.");

    /// <summary>Called once a stream is finished both ways or reset: frees its slot.</summary>
    internal void RemoveStream(Http2ClientStream stream)
    {
        TaskCompletionSource? waiters = null;
        lock (_lock)
        {
            if (_streams.Remove(stream.Id))
            {
                ReleaseLocked();

                // A writer of this stream may wait for window that will never come: wake it to see the failure.
                waiters = _windowWaiters;
                _windowWaiters = null;
            }
        }

        waiters?.TrySetResult();
    }

    /// <summary>Sends GOAWAY(NO_ERROR) and closes the connection; open streams fail.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_abortReason is null)
            {
                AppendGoAwayLocked(0, Http2ErrorCode.NoError);
                ScheduleWriteLocked();
            }
        }

        // Give the writer loop a moment to put the GOAWAY on the wire before the transport goes.
        var writeLoop = _writeLoop;
        Abort(new HboneException(HboneErrorReason.ConnectionFailed, "The HTTP/2 connection was closed locally."), flushFirst: true);
        if (writeLoop is not null)
        {
            await writeLoop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        foreach (var loop in new[] { _readLoop, _pingLoop })
        {
            if (loop is not null)
            {
                await loop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Fails every stream and closes the transport. The first reason wins.</summary>
    private void Abort(Exception reason, bool flushFirst = false)
    {
        Http2ClientStream[] streams;
        lock (_lock)
        {
            if (_abortReason is not null)
            {
                return;
            }

            _abortReason = reason;
            streams = [.. _streams.Values];
            _streams.Clear();
            _reservedStreams = 0;
            _windowWaiters?.TrySetResult();
            _windowWaiters = null;
            _drained?.TrySetResult();
            _drained = null;
            _streamsEnded?.TrySetResult();
            _writeScheduled = true;
        }

        // Streams fail outside the lock: their continuations must not run under it.
        foreach (var stream in streams)
        {
            stream.OnConnectionAborted(reason);
        }

        _peerSettingsReceived.TrySetException(reason);

        // The writer loop drains what is pending (a GOAWAY), then closes the transport and ends.
        _writeSignal.Release();
        if (!flushFirst)
        {
            CloseTransport();
        }
    }

    private void CloseTransport()
    {
        _shutdown.Cancel();
        try
        {
            _transport.Dispose();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }

        _closed.TrySetResult();
    }
}
