using System.Globalization;
using System.Text.Json;
using Hbone.Kestrel;

namespace Hbone.Cli.Commands;

/// <summary>Formats one access-log line per tunnel: text (key=value, as ztunnel) or JSON.</summary>
internal static class AccessLogLine
{
    public static string Format(HboneTunnelLog entry, bool json)
    {
        var time = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        if (!json)
        {
            return $"{time} info access connection complete {entry}";
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("time", time);
            writer.WriteString("peer", entry.PeerIdentity?.ToString());
            writer.WriteString("authority", entry.Authority);
            writer.WriteString("forwarded_for", entry.ForwardedFor?.ToString());
            writer.WriteString("src", entry.RemoteEndPoint?.ToString());
            writer.WriteNumber("status", entry.StatusCode);
            writer.WriteNumber("bytes_recv", entry.BytesFromPeer);
            writer.WriteNumber("bytes_sent", entry.BytesToPeer);
            writer.WriteNumber("duration_ms", (long)entry.Duration.TotalMilliseconds);
            writer.WriteString("outcome", entry.Outcome.ToString());
            writer.WriteString("error", entry.Error);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
