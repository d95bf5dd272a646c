using System.Diagnostics;
using System.Diagnostics.Metrics;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;
using Hbone.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hbone.Client.Tests.Client;

/// <summary>The client's Meter and ActivitySource, and its DI registration.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task Tunnel_span_context_is_the_traceparent_sent_and_counters_record_streams_and_bytes()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        var sent = new TaskCompletionSource<TraceParent?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await HboneTestServer.StartAsync(handler: b => b.AddHandler(async ctx =>
        {
            sent.TrySetResult(ctx.TraceParent);
            await ctx.RejectAsync(503, "telemetry test");
        }));

        var activities = new List<Activity>();
        using var activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == HboneTelemetry.ClientActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (activities)
                {
                    activities.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(activityListener);

        var measurements = new List<(string Name, long Value, string? ErrorType)>();
        using var meterListener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == HboneTelemetry.ClientMeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meterListener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? errorType = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "error.type")
                {
                    errorType = tag.Value?.ToString();
                }
            }

            lock (measurements)
            {
                measurements.Add((instrument.Name, value, errorType));
            }
        });
        meterListener.Start();

        await using var client = ClientFixture.CreateClient();
        var refused = await Assert.ThrowsAsync<HboneConnectException>(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)));
        Assert.Equal(503, refused.ResponseStatus);

        var traceParent = await sent.Task.WaitAsync(ClientFixture.Deadline);
        Activity span;
        lock (activities)
        {
            span = Assert.Single(activities, a => a.OperationName == "hbone.connect");
        }

        Assert.NotNull(traceParent);
        Assert.Equal(span.TraceId, traceParent.Value.TraceId);
        Assert.Equal(span.SpanId, traceParent.Value.SpanId);
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("503", span.GetTagItem("error.type"));
        lock (measurements)
        {
            Assert.Contains(measurements, m => m.Name == "hbone.client.connections.opened" && m.Value == 1);
            Assert.Contains(measurements, m => m.Name == "hbone.client.streams.failed" && m.ErrorType == "503");
        }
    }

    [Fact]
    public async Task Bytes_counters_follow_the_tunnel_payload()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        long sentBytes = 0, receivedBytes = 0, opened = 0;
        using var meterListener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == HboneTelemetry.ClientMeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meterListener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "hbone.client.bytes.sent": Interlocked.Add(ref sentBytes, value); break;
                case "hbone.client.bytes.received": Interlocked.Add(ref receivedBytes, value); break;
                case "hbone.client.streams.opened": Interlocked.Add(ref opened, value); break;
            }
        });
        meterListener.Start();

        await using var client = ClientFixture.CreateClient();
        await using (var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)))
        {
            Assert.Equal(10_000, (await Tunnels.RoundTripAsync(tunnel, new byte[10_000])).Length);
        }

        Assert.Equal(1, Interlocked.Read(ref opened));
        Assert.Equal(10_000, Interlocked.Read(ref sentBytes));
        Assert.Equal(10_000, Interlocked.Read(ref receivedBytes));
    }

    [Fact]
    public async Task AddHbone_registers_one_client_and_invalid_options_fail_the_host_at_start()
    {
        var good = Host.CreateApplicationBuilder();
        good.Services.AddHbone(o => o.Certificate = new Hbone.Identity.InMemoryCertificateSource(TestPki.Shared.Client, TestPki.Shared.Ca.TrustBundle));
        using (var host = good.Build())
        {
            await host.StartAsync();
            Assert.Same(host.Services.GetRequiredService<HboneClient>(), host.Services.GetRequiredService<HboneClient>());
            await host.StopAsync();
        }

        var bad = Host.CreateApplicationBuilder();
        bad.Services.AddHbone(o =>
        {
            o.Certificate = new Hbone.Identity.InMemoryCertificateSource(TestPki.Shared.Client, TestPki.Shared.Ca.TrustBundle);
            o.MaxStreamsPerConnection = 0;
        });
        using var badHost = bad.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => badHost.StartAsync());
        Assert.Contains("MaxStreamsPerConnection", error.Message, StringComparison.Ordinal);
    }
}
