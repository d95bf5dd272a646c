using System.Buffers.Binary;
using System.Diagnostics;
using Hbone.Http2;

namespace Hbone.Kestrel.Http2;

internal sealed partial class Http2ServerConnection
{
    private static readonly TimeSpan MinimumTick = TimeSpan.FromMilliseconds(20);

    private readonly long _started;
    private long _lastReceived;
    private long _pingSentAt;
    private long _pingPayload;
    private PeriodicTimer? _heartbeat;

    /// <summary>
    /// One timer per connection enforces every deadline: the preface, a header block, keep-alive PINGs, and output
    /// the peer leaves unread. The tick is a quarter of the shortest deadline, at most a second.
    /// </summary>
    private async Task HeartbeatAsync()
    {
        var tick = Min(TimeSpan.FromSeconds(1), _options.PrefaceTimeout / 4, _options.RequestHeadersTimeout / 4, _options.KeepAlivePingDelay / 4, _options.KeepAlivePingTimeout / 4);
        var timer = new PeriodicTimer(tick < MinimumTick ? MinimumTick : tick);
        lock (_lock)
        {
            if (_closed)
            {
                timer.Dispose();
                return;
            }

            _heartbeat = timer;
        }

        try
        {
            while (await timer.WaitForNextTickAsync().ConfigureAwait(false) && Tick())
            {
            }
        }
        finally
        {
            timer.Dispose();
        }
    }

    private void StopHeartbeatLocked() => _heartbeat?.Dispose();

    private bool Tick()
    {
        lock (_lock)
        {
            if (_closed || _pendingError is not null || _abortReason is not null)
            {
                return false;
            }

            var now = Stopwatch.GetTimestamp();
            if (!Volatile.Read(ref _prefaceReceived))
            {
                if (Stopwatch.GetElapsedTime(_started, now) >= _options.PrefaceTimeout)
                {
                    FailLocked(null, "no client preface within the preface timeout");
                    return false;
                }

                return true;
            }

            if (Volatile.Read(ref _blockStreamId) != 0 && Stopwatch.GetElapsedTime(Volatile.Read(ref _blockStarted), now) >= _options.RequestHeadersTimeout)
            {
                FailLocked(new Http2ProtocolException(Http2ErrorCode.EnhanceYourCalm, "header block not finished within the request headers timeout"), "header block timeout");
                return false;
            }

            if (_backlogSince != 0 && Stopwatch.GetElapsedTime(_backlogSince, now) >= _options.KeepAlivePingTimeout)
            {
                // The peer has left a megabyte unread for the whole PING timeout: nothing more can be delivered.
                FailLocked(null, "the peer does not read its output");
                _output.CancelPendingFlush();
                _context.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("The peer does not read."));
                return false;
            }

            if (_pingSentAt != 0)
            {
                if (Stopwatch.GetElapsedTime(_pingSentAt, now) >= _options.KeepAlivePingTimeout)
                {
                    FailLocked(null, "keep-alive PING not answered");
                    return false;
                }
            }
            else if (Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceived), now) >= _options.KeepAlivePingDelay)
            {
                _pingPayload = now;
                _pingSentAt = now;
                Span<byte> payload = stackalloc byte[8];
                BinaryPrimitives.WriteInt64BigEndian(payload, now);
                WriteFrameLocked(FrameType.Ping, FrameFlags.None, 0, payload, control: false);
                _ = FlushLocked();
            }

            return true;
        }
    }

    private static TimeSpan Min(params ReadOnlySpan<TimeSpan> values)
    {
        var min = values[0];
        foreach (var value in values)
        {
            if (value < min)
            {
                min = value;
            }
        }

        return min;
    }
}
