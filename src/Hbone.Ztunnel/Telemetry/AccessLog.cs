using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hbone.Kestrel;

namespace Hbone.Ztunnel.Telemetry;

/// <summary>Formats a <see cref="ConnectionReport"/> as one access-log line, in ztunnel's text style or as JSON.</summary>
/// <remarks>Fields that are null are left out; the timestamp is UTC with microseconds.</remarks>
internal static class AccessLog
{
    private const string Level = "info";
    private const string Scope = "access";
    private const string Message = "connection complete";

    // Log readers want identities and hosts as written; quotes and control characters are still escaped.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One text line (no line ending): <c>timestamp  info  access  connection complete  key=value …</c>.</summary>
    public static string FormatText(ConnectionReport entry, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var sb = new StringBuilder(512);
        sb.Append(Timestamp(time)).Append("  ").Append(Level).Append("  ").Append(Scope).Append("  ").Append(Message).Append(' ');
        Visit(entry, new TextFields(sb));
        return sb.ToString();
    }

    /// <summary>One JSON object on one line with the same keys as the text form plus <c>timestamp</c>, <c>level</c>, <c>scope</c>, <c>message</c>.</summary>
    public static string FormatJson(ConnectionReport entry, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", Timestamp(time));
            json.WriteString("level", Level);
            json.WriteString("scope", Scope);
            json.WriteString("message", Message);
            Visit(entry, new JsonFields(json));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string Timestamp(TimeProvider? time) =>
        (time ?? TimeProvider.System).GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static string DurationText(TimeSpan duration) =>
        ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";

    // One field order for both forms.
    private static void Visit(ConnectionReport e, IFields f)
    {
        f.Address("src.addr", e.Source?.ToString());
        f.Text("src.workload", e.SourceWorkload?.Name);
        f.Text("src.namespace", e.SourceWorkload?.Namespace);
        f.Text("src.identity", e.SourceIdentity?.ToString());
        f.Address("dst.addr", e.Destination?.ToString());
        f.Text("dst.service", e.DestinationService);
        f.Text("dst.workload", e.DestinationWorkload?.Name);
        f.Text("dst.namespace", e.DestinationWorkload?.Namespace);
        f.Text("dst.identity", e.DestinationIdentity?.ToString());
        f.Text("direction", e.Inbound ? "inbound" : "outbound");
        f.Number("bytes_sent", e.BytesSent);
        f.Number("bytes_recv", e.BytesReceived);
        f.Text("duration", DurationText(e.Duration));
        f.Text("protocol", e.MutualTls ? "HBONE" : "TCP");
        if (e.Status is int status)
        {
            f.Number("status", status);
        }

        f.Text("error", e.Error);
    }

    private interface IFields
    {
        void Address(string key, string? value);

        void Text(string key, string? value);

        void Number(string key, long value);
    }

    private sealed class TextFields(StringBuilder sb) : IFields
    {
        public void Address(string key, string? value)
        {
            if (value is not null)
            {
                sb.Append(' ').Append(key).Append('=').Append(value);
            }
        }

        public void Text(string key, string? value)
        {
            if (value is not null)
            {
                sb.Append(' ').Append(key).Append("=\"").Append(HboneTunnelLog.QuoteValue(value)).Append('"');
            }
        }

        public void Number(string key, long value) =>
            sb.Append(' ').Append(key).Append('=').Append(value.ToString(CultureInfo.InvariantCulture));
    }

    private sealed class JsonFields(Utf8JsonWriter json) : IFields
    {
        public void Address(string key, string? value) => Text(key, value);

        public void Text(string key, string? value)
        {
            if (value is not null)
            {
                json.WriteString(key, value);
            }
        }

        public void Number(string key, long value) => json.WriteNumber(key, value);
    }
}
