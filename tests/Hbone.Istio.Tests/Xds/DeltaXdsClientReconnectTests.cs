using Grpc.Core;
using Hbone.Istio.Protos.Envoy.Discovery;
using Hbone.Istio.Tests.Infrastructure;
using Hbone.Istio.Xds;
using static Hbone.Istio.Tests.Xds.XdsHarness;

namespace Hbone.Istio.Tests.Xds;

/// <summary>Losing the stream: reconnect with backoff, keep the state, announce what is held, wait for a token.</summary>
public sealed class DeltaXdsClientReconnectTests
{
    // Tolerance for timer granularity when checking that a delay was at least its lower bound.
    // The server stamps arrivals when its handler runs, which a loaded machine delays: bounds are taken from the first
    // arrival (cumulative), so only two stamps' delays count, and those are allowed this much.
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(20);

    [Fact]
    public async Task FT_01_After_a_dropped_stream_the_new_one_announces_every_held_resource_but_not_the_rejected_ones()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();
        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1",
        [
            WorkloadResource("uid-a", "7", Ip(10, 0, 0, 1)), WorkloadResource("uid-bad", "3", Ip(1, 2, 3)),
            ServiceResource("default", "a.default.svc.cluster.local", "5"), Raw("junk", "1", XdsTypeUrls.Address, [0xFF, 0xFF]),
        ]));
        await stream.SendAsync(Response(XdsTypeUrls.Authorization, "n-2", [PolicyResource("ns", "p1", "9")]));
        Assert.NotNull((await stream.ReadAsync()).ErrorDetail);
        Assert.Null((await stream.ReadAsync()).ErrorDetail);
        MeshSnapshot before = h.State.Current;

        stream.Drop();
        (ScriptedStream again, DeltaDiscoveryRequest address, DeltaDiscoveryRequest authorization) = await h.AcceptAsync();

        Assert.Equal(new Dictionary<string, string> { ["uid-a"] = "7", ["default/a.default.svc.cluster.local"] = "5" }, address.InitialResourceVersions);
        Assert.Equal(new Dictionary<string, string> { ["ns/p1"] = "9" }, authorization.InitialResourceVersions);
        Assert.Empty(address.ResourceNamesSubscribe);
        Assert.Equal("ztunnel~10.0.0.9~ztunnel-x.istio-system~istio-system.svc.cluster.local", address.Node.Id);
        Assert.Equal("Bearer token-1", again.Headers.GetValue("authorization"));
        // Nothing was applied while disconnected: the same snapshot is still current.
        Assert.Same(before, h.State.Current);
        Assert.Equal(2, h.Client.Statistics.Attempts);
    }

    [Fact]
    public async Task FT_04_A_stream_cut_mid_message_reconnects_and_keeps_the_last_state()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();
        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1", [WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1))]));
        await stream.ReadAsync();

        stream.Truncate();
        (ScriptedStream again, DeltaDiscoveryRequest address, _) = await h.AcceptAsync();

        Assert.Equal(new Dictionary<string, string> { ["uid-a"] = "1" }, address.InitialResourceVersions);
        Assert.Equal(["uid-a"], h.State.Current.Workloads.Keys);
        await again.SendAsync(Response(XdsTypeUrls.Address, "n-2", [WorkloadResource("uid-b", "1", Ip(10, 0, 0, 2))]));
        Assert.Equal("n-2", (await again.ReadAsync()).ResponseNonce);
        Assert.Equal(["uid-a", "uid-b"], h.State.Current.Workloads.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, h.Client.Statistics.Connects);
    }

    [Fact]
    public async Task FT_04_A_server_that_answers_and_ends_with_OK_at_once_is_reconnected_to_with_the_state_kept()
    {
        await using XdsHarness h = await StartAsync();
        for (int i = 1; i <= 3; i++)
        {
            (ScriptedStream stream, DeltaDiscoveryRequest address, _) = await h.AcceptAsync();
            Assert.Equal(i - 1, address.InitialResourceVersions.Count);
            // The ACK may find the call already complete: that must be one more lost stream, not a dead client.
            await stream.SendAsync(Response(XdsTypeUrls.Address, $"n-{i}", [WorkloadResource($"uid-{i}", "1", Ip(10, 0, 0, (byte)i))]));
            stream.End(StatusCode.OK);
        }

        (_, DeltaDiscoveryRequest last, _) = await h.AcceptAsync();
        Assert.Equal(["uid-1", "uid-2", "uid-3"], last.InitialResourceVersions.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["uid-1", "uid-2", "uid-3"], h.State.Current.Workloads.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task FT_04_Streams_that_end_with_OK_are_retried_with_growing_delays_not_in_a_busy_loop()
    {
        var options = new XdsClientOptions { Node = TestNode(), InitialBackoff = TimeSpan.FromMilliseconds(40), MaxBackoff = TimeSpan.FromSeconds(1) };
        await using XdsHarness h = await StartAsync(options);
        for (int i = 0; i < 4; i++)
        {
            (ScriptedStream stream, _, _) = await h.AcceptAsync();
            stream.End(StatusCode.OK);
        }

        await h.AcceptAsync();
        IReadOnlyList<TimeSpan> arrivals = h.Server.Arrivals;
        // Nominal delays 40, 80, 160, 320 ms, each jittered down by at most a quarter.
        TimeSpan floor = TimeSpan.Zero;
        for (int i = 1; i < arrivals.Count; i++)
        {
            floor += options.InitialBackoff * Math.Pow(2, i - 1) * 0.75;
            Assert.True(arrivals[i] - arrivals[0] >= floor - Slack, $"attempt {i} came {(arrivals[i] - arrivals[0]).TotalMilliseconds} ms after the first, less than {floor.TotalMilliseconds} ms");
        }

        Assert.Equal(0, h.Client.Statistics.Connects);
    }

    [Fact]
    public async Task FT_01_Backoff_against_a_failing_server_grows_and_is_capped()
    {
        var options = new XdsClientOptions { Node = TestNode(), InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        await using XdsHarness h = await StartAsync(options, start: false);
        h.Server.FailEveryStream = StatusCode.Unavailable;
        h.Client.Start();

        // Uncapped, 12 attempts would need at least 0.75 * (10 ms * (2^11 - 1)) = 15 s: arriving within 10 s proves the cap.
        await h.Server.WaitForStreamsAsync(12, Deadline);
        IReadOnlyList<TimeSpan> arrivals = h.Server.Arrivals;
        TimeSpan floor = TimeSpan.Zero;
        for (int i = 1; i < 12; i++)
        {
            floor += TimeSpan.FromMilliseconds(Math.Min(200, 10 * Math.Pow(2, i - 1))) * 0.75;
            TimeSpan elapsed = arrivals[i] - arrivals[0];
            Assert.True(elapsed >= floor - Slack, $"attempt {i} came {elapsed.TotalMilliseconds} ms after the first, below {floor.TotalMilliseconds} ms");
        }

        Assert.Equal(0, h.Client.Statistics.Connects);
        Assert.False(h.Client.Ready.IsCompleted);
    }

    [Fact]
    public async Task XDS_07_Without_a_token_file_no_stream_is_opened_until_it_exists()
    {
        var options = new XdsClientOptions { Node = TestNode(), InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50) };
        await using XdsHarness h = await StartAsync(options, writeToken: false, start: false);
        TaskCompletionSource threeFailures = new(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Client.StateChanged += (_, _) =>
        {
            if (h.Client.Statistics.Failures >= 3)
            {
                threeFailures.TrySetResult();
            }
        };
        h.Client.Start();

        await threeFailures.Task.WaitAsync(Deadline);
        Assert.Equal(0, h.Server.StreamCount);
        Assert.Equal(0, h.Client.Statistics.Connects);

        await File.WriteAllTextAsync(h.Channel.Options.TokenPath!, "late-token");
        (ScriptedStream stream, _, _) = await h.AcceptAsync();
        Assert.Equal("Bearer late-token", stream.Headers.GetValue("authorization"));
    }
}
