using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Hbone.Relay;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;
using Hbone.Ztunnel.Tests.Telemetry;
using static Hbone.Ztunnel.Tests.Telemetry.TelemetryFixtures;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary>
/// Istio's byte counters grow while a connection is open: <see cref="ConnectionReporter"/> polls the connection's
/// <see cref="LiveBytes"/> (the relay's live counters) and the close adds only what no poll added yet.
/// </summary>
public sealed class LiveByteMetricsTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly ZtunnelMetrics _metrics = new();
    private readonly CounterRecorder _exporter;
    private readonly StringWriter _log = new(CultureInfo.InvariantCulture);

    public LiveByteMetricsTests()
    {
        _exporter = new CounterRecorder(_metrics.Meter);
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _metrics.Dispose();
        _log.Dispose();
    }

    [Fact]
    [Trait("case", "TEL-01")]
    public async Task Sent_bytes_grow_while_a_relayed_connection_is_still_open()
    {
        using var reporter = new ConnectionReporter(_metrics, new AccessLogWriter(_log, json: false), pollInterval: TimeSpan.FromMilliseconds(20));
        using var app = await SocketPair.CreateAsync();
        using var upstream = await SocketPair.CreateAsync();
        var relay = new TunnelRelay(RelayEndpoint.Create(app.Server), RelayEndpoint.Create(upstream.Client));
        var report = Report(new LiveBytes(() => (relay.BytesAToB, relay.BytesBToA)));
        var sentGrew = ObserveFirst(ZtunnelMetrics.SentBytesName);
        reporter.Opened(report);
        var run = relay.RunAsync();

        // Response bytes (back from the destination) are Istio's "sent" bytes.
        var response = RandomNumberGenerator.GetBytes(100_000);
        await upstream.Server.SendAsync(response).WaitAsync(Deadline);
        await ReceiveExactlyAsync(app.Client, response.Length);

        Assert.InRange(await sentGrew.WaitAsync(Deadline), 1, response.Length);
        Assert.False(run.IsCompleted, "the counter grew while the connection was open");
        Assert.InRange(Value(ZtunnelMetrics.SentBytesName), 1, response.Length);

        app.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        upstream.Server.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal(TunnelOutcome.Completed, await run.WaitAsync(Deadline));
        reporter.Report(report with { BytesSent = relay.BytesAToB, BytesReceived = relay.BytesBToA }, opened: true);
        Assert.Equal(response.Length, Value(ZtunnelMetrics.SentBytesName));
        Assert.Equal(0, Value(ZtunnelMetrics.ReceivedBytesName));
    }

    [Fact]
    [Trait("case", "TEL-01")]
    public void Polls_add_the_growth_and_the_close_adds_only_the_rest()
    {
        using var reporter = new ConnectionReporter(_metrics, new AccessLogWriter(_log, json: false), pollInterval: Timeout.InfiniteTimeSpan);
        (long Sent, long Received) counts = (100, 40);
        var report = Report(new LiveBytes(() => counts));
        reporter.Opened(report);

        reporter.Poll();
        Assert.Equal((100, 40), (Value(ZtunnelMetrics.ReceivedBytesName), Value(ZtunnelMetrics.SentBytesName)));
        counts = (150, 60);
        reporter.Poll();
        Assert.Equal((150, 60), (Value(ZtunnelMetrics.ReceivedBytesName), Value(ZtunnelMetrics.SentBytesName)));

        reporter.Report(report with { BytesSent = 200, BytesReceived = 70 }, opened: true);
        counts = (999, 999);
        reporter.Poll();
        Assert.Equal((200, 70), (Value(ZtunnelMetrics.ReceivedBytesName), Value(ZtunnelMetrics.SentBytesName)));
    }

    private static ConnectionReport Report(LiveBytes live) => new()
    {
        Inbound = false,
        Source = IPEndPoint.Parse("10.0.0.1:40000"),
        Destination = IPEndPoint.Parse("10.0.0.2:8080"),
        Live = live,
    };

    private long Value(string name)
    {
        var lines = SeriesLines(_exporter.Render(), name);
        return lines.Length == 0 ? 0 : long.Parse(Assert.Single(lines).Split(' ')[^1], CultureInfo.InvariantCulture);
    }

    /// <summary>Completes with the first positive measurement of <paramref name="name"/> on this test's meter.</summary>
    private Task<long> ObserveFirst(string name)
    {
        var first = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == _metrics.Meter && instrument.Name == name)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            if (value > 0)
            {
                first.TrySetResult(value);
            }
        });
        listener.Start();
        _ = first.Task.ContinueWith(_ => listener.Dispose(), TaskScheduler.Default);
        return first.Task;
    }

    private static async Task ReceiveExactlyAsync(System.Net.Sockets.Socket socket, int count)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var buffer = new byte[count];
        for (var total = 0; total < count;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(total), System.Net.Sockets.SocketFlags.None, deadline.Token);
            Assert.NotEqual(0, read);
            total += read;
        }
    }
}
