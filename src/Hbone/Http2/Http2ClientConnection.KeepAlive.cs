using System.Buffers.Binary;
using Microsoft.Extensions.Logging;

namespace Hbone.Http2;

internal sealed partial class Http2ClientConnection
{
    private long _pingPayload;
    private TaskCompletionSource? _pingAck;

    /// <summary>PING every delay; an answer missing after the timeout means the peer is gone (H2-21, FT-07).</summary>
    private async Task PingLoopAsync()
    {
        var time = _settings.TimeProvider;
        try
        {
            while (!_shutdown.IsCancellationRequested)
            {
                await Task.Delay(_settings.KeepAlivePingDelay, time, _shutdown.Token).ConfigureAwait(false);
                var ack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_lock)
                {
                    if (_abortReason is not null)
                    {
                        return;
                    }

                    _pingAck = ack;
                    AppendPingLocked(++_pingPayload);
                }

                try
                {
                    await ack.Task.WaitAsync(_settings.KeepAlivePingTimeout, time, _shutdown.Token).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    Log.PingTimeout(_logger, _settings.KeepAlivePingTimeout);
                    Abort(new HboneException(HboneErrorReason.ConnectionFailed, $"The peer did not answer PING within {_settings.KeepAlivePingTimeout.TotalSeconds:0.#} s."));
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void AppendPingLocked(long value)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(payload, value);
        AppendFrameLocked(FrameType.Ping, FrameFlags.None, 0, payload);
        ScheduleWriteLocked();
    }

    private void OnPingAck(long payload)
    {
        TaskCompletionSource? ack;
        lock (_lock)
        {
            ack = payload == _pingPayload ? _pingAck : null;
        }

        ack?.TrySetResult();
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Debug, "GOAWAY received: last stream {LastStreamId}, {ErrorCode}.", EventName = "GoAwayReceived")]
        public static partial void GoAwayReceived(ILogger logger, int lastStreamId, Http2ErrorCode errorCode);

        [LoggerMessage(101, LogLevel.Warning, "HTTP/2 PING not answered within {Timeout}; closing the connection.", EventName = "PingTimeout")]
        public static partial void PingTimeout(ILogger logger, TimeSpan timeout);
    }
}
