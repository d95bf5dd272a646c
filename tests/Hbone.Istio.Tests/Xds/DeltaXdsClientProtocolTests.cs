using Hbone.Istio.Protos.Envoy.Discovery;
using Hbone.Istio.Tests.Infrastructure;
using Hbone.Istio.Xds;
using static Hbone.Istio.Tests.Xds.XdsHarness;

namespace Hbone.Istio.Tests.Xds;

/// <summary>The request/response protocol of one stream: subscribe, ACK, NACK, removal, Ready.</summary>
public sealed class DeltaXdsClientProtocolTests
{
    [Fact]
    public async Task XDS_01_First_request_per_type_is_a_wildcard_subscribe_with_the_node_and_the_call_headers()
    {
        var env = new Dictionary<string, string>
        {
            ["POD_NAME"] = "ztunnel-abc", ["POD_NAMESPACE"] = "istio-system", ["INSTANCE_IP"] = "10.1.2.3", ["NODE_NAME"] = "node-7",
            ["CLUSTER_ID"] = "c1", ["ISTIO_META_DNS_CAPTURE"] = "true", ["ISTIO_METAJSON_LABELS"] = """{"app":"z","n":2}""",
        };
        await using XdsHarness h = await StartAsync(new XdsClientOptions { Node = XdsNode.FromEnvironment(env) });
        (ScriptedStream stream, DeltaDiscoveryRequest address, DeltaDiscoveryRequest authorization) = await h.AcceptAsync();

        Assert.Equal("Bearer token-1", stream.Headers.GetValue("authorization"));
        Assert.Equal("c1", stream.Headers.GetValue("clusterid"));
        Assert.Equal(XdsTypeUrls.Address, address.TypeUrl);
        Assert.Equal(XdsTypeUrls.Authorization, authorization.TypeUrl);
        foreach (DeltaDiscoveryRequest request in new[] { address, authorization })
        {
            Assert.Empty(request.ResourceNamesSubscribe);
            Assert.Empty(request.InitialResourceVersions);
            Assert.Equal("", request.ResponseNonce);
            Assert.Null(request.ErrorDetail);
            Assert.Equal("ztunnel~10.1.2.3~ztunnel-abc.istio-system~istio-system.svc.cluster.local", request.Node.Id);
            var fields = request.Node.Metadata.Fields;
            Assert.Equal(
                ["CLUSTER_ID", "DNS_CAPTURE", "INSTANCE_IPS", "LABELS", "NAME", "NAMESPACE", "NODE_NAME"],
                fields.Keys.Order(StringComparer.Ordinal));
            Assert.Equal("ztunnel-abc", fields["NAME"].StringValue);
            Assert.Equal("istio-system", fields["NAMESPACE"].StringValue);
            Assert.Equal("10.1.2.3", fields["INSTANCE_IPS"].StringValue);
            Assert.Equal("node-7", fields["NODE_NAME"].StringValue);
            Assert.Equal("c1", fields["CLUSTER_ID"].StringValue);
            Assert.Equal("true", fields["DNS_CAPTURE"].StringValue);
            Assert.Equal("z", fields["LABELS"].StructValue.Fields["app"].StringValue);
            Assert.Equal(2, fields["LABELS"].StructValue.Fields["n"].NumberValue);
        }
    }

    [Fact]
    public async Task XDS_02_A_valid_response_is_ACKed_with_its_nonce_and_no_error_detail()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1", [WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1))]));
        DeltaDiscoveryRequest ack = await stream.ReadAsync();

        Assert.Equal(XdsTypeUrls.Address, ack.TypeUrl);
        Assert.Equal("n-1", ack.ResponseNonce);
        Assert.Null(ack.ErrorDetail);
        Assert.Null(ack.Node);
        Assert.Equal(["uid-a"], h.State.Current.Workloads.Keys);
        Assert.Equal(new XdsClientStatistics(1, 1, 1, 1, 0, 0), h.Client.Statistics);
        Assert.Equal(XdsConnectionState.Connected, h.Client.State);
    }

    [Fact]
    public async Task FT_03_NACK_names_exactly_the_bad_resources_while_the_good_ones_are_applied()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1",
        [
            WorkloadResource("good1", "1", Ip(10, 0, 0, 1)),
            Raw("bad1", "1", XdsTypeUrls.Authorization, []),
            WorkloadResource("bad2", "1", Ip(10, 0, 0, 1, 5)),
            ServiceResource("default", "good2.default.svc.cluster.local", "1"),
        ]));
        DeltaDiscoveryRequest nack = await stream.ReadAsync();

        Assert.Equal("n-1", nack.ResponseNonce);
        Assert.Equal(
            $"bad1: type_url {XdsTypeUrls.Authorization} is not {XdsTypeUrls.Address}; bad2: workload address of 5 bytes (want 4 or 16)",
            nack.ErrorDetail.Message);
        Assert.Equal(["good1"], h.State.Current.Workloads.Keys);
        Assert.Equal(["default/good2.default.svc.cluster.local"], h.State.Current.Services.Keys);
        Assert.Equal(1, h.Client.Statistics.Nacks);
    }

    [Fact]
    public async Task FZ_05_Bytes_that_do_not_parse_are_NACKed_by_name_and_the_stream_goes_on()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1", [Raw("junk", "1", XdsTypeUrls.Address, [0xFF, 0xFF, 0xFF, 0xFF])]));
        DeltaDiscoveryRequest nack = await stream.ReadAsync();
        Assert.StartsWith("junk: cannot decode: ", nack.ErrorDetail.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(";", nack.ErrorDetail.Message, StringComparison.Ordinal);
        Assert.Empty(h.State.Current.Workloads);

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-2", [WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1))]));
        DeltaDiscoveryRequest ack = await stream.ReadAsync();
        Assert.Equal("n-2", ack.ResponseNonce);
        Assert.Null(ack.ErrorDetail);
        Assert.Equal(1, h.Client.Statistics.Connects);
    }

    [Fact]
    public async Task XDS_03_Removed_names_are_a_workload_uid_a_service_namespace_hostname_or_a_policy_namespace_name()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();
        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1",
        [
            WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1)), WorkloadResource("uid-b", "1", Ip(10, 0, 0, 2)),
            ServiceResource("default", "a.default.svc.cluster.local", "1"), ServiceResource("default", "b.default.svc.cluster.local", "1"),
        ]));
        await stream.SendAsync(Response(XdsTypeUrls.Authorization, "n-2", [PolicyResource("ns", "p1", "1"), PolicyResource("ns", "p2", "1")]));
        Assert.Null((await stream.ReadAsync()).ErrorDetail);
        Assert.Null((await stream.ReadAsync()).ErrorDetail);

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-3", [], "uid-a", "default/b.default.svc.cluster.local", "never-known"));
        await stream.SendAsync(Response(XdsTypeUrls.Authorization, "n-4", [], "ns/p1"));
        Assert.Null((await stream.ReadAsync()).ErrorDetail);
        Assert.Null((await stream.ReadAsync()).ErrorDetail);

        Assert.Equal(["uid-b"], h.State.Current.Workloads.Keys);
        Assert.Equal(["default/a.default.svc.cluster.local"], h.State.Current.Services.Keys);
        Assert.Equal(["ns/p2"], h.State.Current.Policies.Keys);
    }

    [Fact]
    public async Task XDS_04_Ready_completes_only_after_the_first_response_of_each_type()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1", [WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1))]));
        await stream.ReadAsync();
        // The ACK is written after the response was applied, so Ready's state is settled here.
        Assert.False(h.Client.Ready.IsCompleted);

        await stream.SendAsync(Response(XdsTypeUrls.Authorization, "n-2", []));
        await stream.ReadAsync();
        await h.Client.Ready.WaitAsync(Deadline);
    }

    [Fact]
    public async Task XDS_05_Ready_counts_a_NACKed_first_response_whose_valid_resources_were_applied()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response(XdsTypeUrls.Address, "n-1", [WorkloadResource("", "1", Ip(10, 0, 0, 1)), WorkloadResource("uid-a", "1", Ip(10, 0, 0, 1))]));
        await stream.SendAsync(Response(XdsTypeUrls.Authorization, "n-2", [PolicyResource("ns", "p", "1")]));
        Assert.Equal(": workload has no uid", (await stream.ReadAsync()).ErrorDetail.Message);
        Assert.Null((await stream.ReadAsync()).ErrorDetail);

        await h.Client.Ready.WaitAsync(Deadline);
        Assert.Equal(["uid-a"], h.State.Current.Workloads.Keys);
    }

    [Fact]
    public async Task XDS_06_A_response_of_a_type_nobody_subscribed_to_is_NACKed_naming_the_type()
    {
        await using XdsHarness h = await StartAsync();
        (ScriptedStream stream, _, _) = await h.AcceptAsync();

        await stream.SendAsync(Response("type.googleapis.com/foo.Bar", "n-1", [Raw("x", "1", "type.googleapis.com/foo.Bar", [])]));
        DeltaDiscoveryRequest nack = await stream.ReadAsync();

        Assert.Equal("type.googleapis.com/foo.Bar", nack.TypeUrl);
        Assert.Equal("n-1", nack.ResponseNonce);
        Assert.Equal("no subscription for type type.googleapis.com/foo.Bar", nack.ErrorDetail.Message);
        Assert.False(h.Client.Ready.IsCompleted);
    }
}
