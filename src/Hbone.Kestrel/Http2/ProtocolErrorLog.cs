using System.Diagnostics;
using System.Net;
using Hbone.Http2;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// One Warning line per connection error, at most <see cref="LinesPerSecond"/> per second across the process:
/// a peer that provokes errors cannot flood the log. The next line written says how many were suppressed.
/// </summary>
internal static partial class ProtocolErrorLog
{
    public const int LinesPerSecond = 10;

    private static readonly object s_lock = new();
    private static long s_windowStart;
    private static int s_inWindow;
    private static long s_suppressed;

    public static void ConnectionError(ILogger logger, EndPoint? peer, Http2ErrorCode code, string reason)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
        {
            return;
        }

        long suppressed;
        lock (s_lock)
        {
            var now = Stopwatch.GetTimestamp();
            if (now - s_windowStart >= Stopwatch.Frequency)
            {
                s_windowStart = now;
                s_inWindow = 0;
            }

            if (++s_inWindow > LinesPerSecond)
            {
                s_suppressed++;
                return;
            }

            suppressed = s_suppressed;
            s_suppressed = 0;
        }

        Log(logger, peer?.ToString() ?? "unknown", code, reason, suppressed);
    }

    [LoggerMessage(20, LogLevel.Warning, "HTTP/2 connection error with {Peer}: {Code}, {Reason} ({Suppressed} suppressed)", EventName = "Http2ConnectionError")]
    private static partial void Log(ILogger logger, string peer, Http2ErrorCode code, string reason, long suppressed);
}
