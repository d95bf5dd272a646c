namespace Hbone.Kestrel.Tests.Connect;

/// <summary>HboneConnectContext.Items behaves as HttpContext.Items did for handlers moved from the Kestrel HTTP/2 path.</summary>
public sealed class TunnelItemsTests
{
    [Fact]
    public void A_missing_key_reads_as_null_and_a_set_one_reads_back()
    {
        IDictionary<object, object?> items = new TunnelItems();

        Assert.Null(items["denied"]);
        Assert.False(items.TryGetValue("denied", out _));
        items["denied"] = "policy";
        Assert.Equal("policy", items["denied"]);
        Assert.True(items.ContainsKey("denied"));
        Assert.Single(items);
    }
}
