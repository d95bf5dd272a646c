using System.Diagnostics;
using System.Net;
using Hbone.Http2;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// One Warning line per connection error, at most <see cref="LogRateLimiter.LinesPerSecond"/> per second across the
/// process: a peer that provokes errors cannot flood the log. The next line written says how many were suppressed.
/// </summary>
internal static partial class ProtocolErrorLog
{
    private static readonly LogRateLimiter s_limiter = new();

    public static void ConnectionError(ILogger logger, EndPoint? peer, Http2ErrorCode code, string reason) =>
        ConnectionError(logger, s_limiter, Stopwatch.GetTimestamp(), peer, code, reason);

    internal static void ConnectionError(ILogger logger, LogRateLimiter limiter, long timestamp, EndPoint? peer, Http2ErrorCode code, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning) && limiter.TryAcquire(timestamp, out var suppressed))
        {
            Log(logger, peer?.ToString() ?? "unknown", code, reason, suppressed);
        }
    }

    [LoggerMessage(20, LogLevel.Warning, "HTTP/2 connection error with {Peer}: {Code}, {Reason} ({Suppressed} suppressed)", EventName = "Http2ConnectionError")]
    private static partial void Log(ILogger logger, string peer, Http2ErrorCode code, string reason, long suppressed);
}

/// <summary>Lets <see cref="LinesPerSecond"/> lines through per one-second window and counts the rest.</summary>
internal sealed class LogRateLimiter
{
    public const int LinesPerSecond = 10;

    private readonly object _lock = new();
    private long _windowStart = long.MinValue;
    private int _inWindow;
    private long _suppressed;

    /// <summary>True when a line may be written; <paramref name="suppressed"/> is how many were dropped since the last one.</summary>
    public bool TryAcquire(long timestamp, out long suppressed)
    {
        lock (_lock)
        {
            if (_windowStart == long.MinValue || timestamp - _windowStart >= Stopwatch.Frequency)
            {
                _windowStart = timestamp;
                _inWindow = 0;
            }

            if (++_inWindow > LinesPerSecond)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
