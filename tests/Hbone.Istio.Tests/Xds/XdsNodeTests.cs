using Hbone.Istio.Xds;

namespace Hbone.Istio.Tests.Xds;

public sealed class XdsNodeTests
{
    [Theory]
    [InlineData("m1", "c2", "m1")]
    [InlineData(null, "c2", "c2")]
    [InlineData(null, null, "Kubernetes")]
    public void XDS_08_Cluster_id_comes_from_ISTIO_META_CLUSTER_ID_then_CLUSTER_ID_then_the_default(string? meta, string? plain, string expected)
    {
        var env = new Dictionary<string, string?> { ["ISTIO_META_CLUSTER_ID"] = meta, ["CLUSTER_ID"] = plain };
        Assert.Equal(expected, XdsNode.FromEnvironment(env).ClusterId);
    }

    [Fact]
    public void XDS_08_Metadata_prefixes_are_stripped_and_kept_apart()
    {
        var env = new Dictionary<string, string> { ["ISTIO_META_A"] = "1", ["ISTIO_METAJSON_B"] = "[1]", ["OTHER"] = "x" };
        XdsNode node = XdsNode.FromEnvironment(env);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1" }, node.Metadata);
        Assert.Equal(new Dictionary<string, string> { ["B"] = "[1]" }, node.MetadataJson);
    }

    [Fact]
    public void XDS_08_A_gateway_sets_its_own_node_id_prefix()
    {
        XdsNode node = XdsHarness.TestNode();
        node.IdPrefix = "router";
        Assert.Equal("router~10.0.0.9~ztunnel-x.istio-system~istio-system.svc.cluster.local", node.ToProto().Id);
    }

    [Fact]
    public void XDS_08_Invalid_METAJSON_is_a_typed_error_naming_the_variable()
    {
        XdsNode node = XdsHarness.TestNode();
        node.MetadataJson["LABELS"] = "{not json";
        var ex = Assert.Throws<IstioException>(node.ToProto);
        Assert.Equal(IstioErrorReason.InvalidOptions, ex.Reason);
        Assert.Contains("ISTIO_METAJSON_LABELS", ex.Message, StringComparison.Ordinal);
    }
}
