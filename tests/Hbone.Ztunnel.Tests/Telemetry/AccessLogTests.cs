using System.Net;
using System.Text.Json;
using Hbone.Identity;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Tests.Telemetry;

public class AccessLogTests
{
    private static readonly FixedTimeProvider Clock = new(new DateTimeOffset(2026, 11, 21, 10, 0, 0, TimeSpan.Zero));

    private static ConnectionReport Outbound() => new()
    {
        Inbound = false,
        Source = IPEndPoint.Parse("10.244.1.2:40000"),
        Destination = IPEndPoint.Parse("10.244.2.2:15008"),
        SourceWorkload = new Workload { Uid = "client-uid", Name = "client", Namespace = "default", ServiceAccount = "client" },
        SourceIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/client"),
        DestinationWorkload = new Workload { Uid = "echo-uid", Name = "echo", Namespace = "default", ServiceAccount = "echo" },
        DestinationIdentity = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/echo"),
        DestinationService = "echo.default.svc.cluster.local",
        MutualTls = true,
        BytesSent = 6,
        BytesReceived = 6,
        Duration = TimeSpan.FromMilliseconds(12.7),
    };

    private const string OutboundLine =
        "2026-11-21T10:00:00.000000Z  info  access  connection complete  src.addr=10.244.1.2:40000 src.workload=\"client\" " +
        "src.namespace=\"default\" src.identity=\"spiffe://cluster.local/ns/default/sa/client\" dst.addr=10.244.2.2:15008 " +
        "dst.service=\"echo.default.svc.cluster.local\" dst.workload=\"echo\" dst.namespace=\"default\" " +
        "dst.identity=\"spiffe://cluster.local/ns/default/sa/echo\" direction=\"outbound\" bytes_sent=6 bytes_recv=6 duration=\"12ms\" " +
        "protocol=\"HBONE\"";

    [Fact]
    [Trait("case", "TEL-09")]
    public void TEL_09_text_line_matches_ztunnel_style_exactly()
    {
        Assert.Equal(OutboundLine, AccessLog.FormatText(Outbound(), Clock));
    }

    [Fact]
    [Trait("case", "TEL-09")]
    public void TEL_09_text_line_omits_null_fields_and_escapes_the_error()
    {
        var entry = new ConnectionReport
        {
            Inbound = true,
            Source = IPEndPoint.Parse("[fd00::1]:40000"),
            SourceIdentity = SpiffeId.Parse("spiffe://clusterset.local/ns/x/sa/y"),
            Duration = TimeSpan.FromSeconds(1.5),
            Status = 401,
            MutualTls = true,
            Error = "peer said \"no\"\\\nbye",
        };

        Assert.Equal(
            "2026-11-21T10:00:00.000000Z  info  access  connection complete  src.addr=[fd00::1]:40000 " +
            "src.identity=\"spiffe://clusterset.local/ns/x/sa/y\" direction=\"inbound\" bytes_sent=0 bytes_recv=0 duration=\"1500ms\" " +
            "protocol=\"HBONE\" status=401 error=\"peer said \\\"no\\\"\\\\ bye\"",
            AccessLog.FormatText(entry, Clock));
    }

    [Fact]
    [Trait("case", "TEL-09")]
    public void TEL_09_timestamp_is_utc_with_microseconds()
    {
        var clock = new FixedTimeProvider(new DateTimeOffset(2026, 1, 2, 5, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567));

        Assert.StartsWith("2026-01-02T03:04:05.123456Z  info  access  ", AccessLog.FormatText(Outbound(), clock), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "TEL-10")]
    public void TEL_10_json_line_parses_back_with_the_text_keys()
    {
        string json = AccessLog.FormatJson(Outbound() with { Status = 200, Error = "upstream \"reset\"" }, Clock);

        Assert.DoesNotContain('\n', json);
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        Assert.Equal("2026-11-21T10:00:00.000000Z", root.GetProperty("timestamp").GetString());
        Assert.Equal("info", root.GetProperty("level").GetString());
        Assert.Equal("access", root.GetProperty("scope").GetString());
        Assert.Equal("connection complete", root.GetProperty("message").GetString());
        Assert.Equal("10.244.1.2:40000", root.GetProperty("src.addr").GetString());
        Assert.Equal("client", root.GetProperty("src.workload").GetString());
        Assert.Equal("default", root.GetProperty("src.namespace").GetString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", root.GetProperty("src.identity").GetString());
        Assert.Equal("10.244.2.2:15008", root.GetProperty("dst.addr").GetString());
        Assert.Equal("echo.default.svc.cluster.local", root.GetProperty("dst.service").GetString());
        Assert.Equal("echo", root.GetProperty("dst.workload").GetString());
        Assert.Equal("default", root.GetProperty("dst.namespace").GetString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/echo", root.GetProperty("dst.identity").GetString());
        Assert.Equal("outbound", root.GetProperty("direction").GetString());
        Assert.Equal(6, root.GetProperty("bytes_sent").GetInt64());
        Assert.Equal(6, root.GetProperty("bytes_recv").GetInt64());
        Assert.Equal("12ms", root.GetProperty("duration").GetString());
        Assert.Equal("HBONE", root.GetProperty("protocol").GetString());
        Assert.Equal(200, root.GetProperty("status").GetInt32());
        Assert.Equal("upstream \"reset\"", root.GetProperty("error").GetString());
    }

    [Fact]
    [Trait("case", "TEL-10")]
    public void TEL_10_json_omits_null_fields()
    {
        string json = AccessLog.FormatJson(new ConnectionReport { Inbound = true }, Clock);

        using JsonDocument doc = JsonDocument.Parse(json);
        string[] keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(
            ["timestamp", "level", "scope", "message", "direction", "bytes_sent", "bytes_recv", "duration", "protocol"],
            keys);
    }

    [Fact]
    [Trait("case", "TEL-11")]
    public void TEL_11_writer_emits_one_line_per_entry_in_either_form()
    {
        using var text = new StringWriter();
        using var json = new StringWriter();

        new AccessLogWriter(text, json: false, Clock).Write(Outbound());
        new AccessLogWriter(json, json: true, Clock).Write(Outbound());

        Assert.Equal(OutboundLine + "\n", text.ToString());
        Assert.Equal(AccessLog.FormatJson(Outbound(), Clock) + "\n", json.ToString());
    }

    [Fact]
    [Trait("case", "TEL-11")]
    public async Task TEL_11_concurrent_writes_never_interleave_lines()
    {
        using var output = new StringWriter();
        var writer = new AccessLogWriter(output, json: true, Clock);
        const int Count = 400;

        await Task.WhenAll(Enumerable.Range(0, Count).Select(i => Task.Run(() => writer.Write(Outbound() with { BytesSent = i }))));

        string[] lines = output.ToString().Split('\n');
        Assert.Equal(Count + 1, lines.Length);
        Assert.Equal(string.Empty, lines[^1]);
        long[] sent = lines[..^1].Select(l => JsonDocument.Parse(l).RootElement.GetProperty("bytes_sent").GetInt64()).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Count).Select(i => (long)i), sent);
    }
}
