using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class BaggageTests
{
    private const string ZtunnelBaggage =
        "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep,service.version=v1";

    [Fact]
    public void Parses_the_baggage_ztunnel_sends()
    {
        Baggage baggage = Parse(ZtunnelBaggage);

        Assert.Equal(5, baggage.Entries.Count);
        Assert.Equal("Kubernetes", baggage["k8s.cluster.name"]);
        Assert.Equal("default", baggage["k8s.namespace.name"]);
        Assert.Equal("sleep", baggage["k8s.deployment.name"]);
        Assert.Equal("sleep", baggage["service.name"]);
        Assert.Equal("v1", baggage["service.version"]);
        Assert.Null(baggage["k8s.pod.name"]);
        Assert.Equal(ZtunnelBaggage, baggage.ToString());
    }

    [Fact]
    public void Trims_whitespace_and_ignores_properties()
    {
        Baggage baggage = Parse(" a = 1 ;p1;p2 = x , b=2\t;q=%20 ");

        Assert.Equal([new("a", "1"), new("b", "2")], baggage.Entries);
    }

    [Theory]
    [InlineData("k=%C3%A9t%C3%A9", "été")]
    [InlineData("k=a%2Cb%3Bc%25", "a,b;c%")]
    [InlineData("k=%f0%9f%98%80", "\U0001F600")]
    [InlineData("k=", "")]
    [InlineData("k=a=b", "a=b")]
    public void Percent_decodes_values_as_utf8(string value, string expected)
    {
        Assert.Equal(expected, Parse(value)["k"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("k")]
    [InlineData("=v")]
    [InlineData("k=v,")]
    [InlineData(",k=v")]
    [InlineData("k=v,,j=w")]
    [InlineData("k=v v")]
    [InlineData("k=\"v\"")]
    [InlineData("k=v\\")]
    [InlineData("k(=v")]
    [InlineData("k=%zz")]
    [InlineData("k=%4")]
    [InlineData("k=%C3")]
    [InlineData("k=%FF")]
    [InlineData("k=é")]
    [InlineData("k=v;")]
    [InlineData("k=v;=x")]
    [InlineData("k=v;p=\"x\"")]
    public void Invalid_members_reject_the_value(string value)
    {
        Assert.False(Baggage.TryParse(value, out Baggage? baggage));
        Assert.Null(baggage);
    }

    [Fact]
    public void Member_and_length_limits()
    {
        string members180 = string.Join(',', Enumerable.Range(0, 180).Select(i => $"k{i}=v"));
        string long8192 = "k=" + new string('v', 8190);

        Assert.True(Baggage.TryParse(members180, out Baggage? many));
        Assert.Equal(180, many.Entries.Count);
        Assert.False(Baggage.TryParse(members180 + ",k180=v", out _));
        Assert.True(Baggage.TryParse(long8192, out _));
        Assert.False(Baggage.TryParse(long8192 + "v", out _));
    }

    [Fact]
    public void Indexer_returns_the_first_of_duplicate_keys()
    {
        Baggage baggage = Parse("k8s.namespace.name=default,k8s.namespace.name=kube-system");

        Assert.Equal("default", baggage["k8s.namespace.name"]);
        Assert.Equal(2, baggage.Entries.Count);
    }

    [Fact]
    [Trait("case", "ADV-05")]
    public void ADV_05_encoded_separators_cannot_smuggle_a_second_member()
    {
        Baggage baggage = Parse("k8s.namespace.name=default%2Ck8s.namespace.name%3Dkube-system");

        KeyValuePair<string, string> entry = Assert.Single(baggage.Entries);
        Assert.Equal("default,k8s.namespace.name=kube-system", entry.Value);
    }

    [Fact]
    [Trait("case", "ADV-08")]
    public void ADV_08_two_header_values_are_parsed_separately()
    {
        Baggage first = Parse("k8s.namespace.name=a");
        Baggage second = Parse("k8s.namespace.name=b,service.name=x");

        Assert.Equal("a", first["k8s.namespace.name"]);
        Assert.Null(first["service.name"]);
        Assert.Equal("b", second["k8s.namespace.name"]);
    }

    [Fact]
    public void Format_skips_empty_values_and_percent_encodes()
    {
        string value = Baggage.Format([new("a", "x y,z;%é\""), new("empty", ""), new("b", "1")]);

        Assert.Equal("a=x%20y%2Cz%3B%25%C3%A9%22,b=1", value);
    }

    [Theory]
    [InlineData("bad key")]
    [InlineData("")]
    [InlineData("k=")]
    public void Format_rejects_non_token_keys(string key)
    {
        Assert.Throws<ArgumentException>(() => Baggage.Format([new(key, "v")]));
    }

    [Fact]
    public void Format_rejects_lone_surrogates()
    {
        Assert.Throws<ArgumentException>(() => Baggage.Format([new("k", "\uD800")]));
    }

    [Fact]
    public void ForWorkload_matches_ztunnel_and_omits_empty_fields()
    {
        Baggage full = Baggage.ForWorkload("Kubernetes", "default", "deployment", "sleep", "sleep", "v1", "us-east1", "us-east1-b");
        Baggage sparse = Baggage.ForWorkload(null, "default", "pod", "", "sleep", null);

        Assert.Equal(ZtunnelBaggage + ",cloud.region=us-east1,cloud.availability_zone=us-east1-b", full.ToString());
        Assert.Equal("k8s.namespace.name=default,service.name=sleep", sparse.ToString());
        Assert.Equal("nightly", Baggage.ForWorkload(null, null, "cronjob", "nightly", null, null)["k8s.cronjob.name"]);
    }

    [Fact]
    public void ForWorkload_rejects_unknown_kinds()
    {
        Assert.Throws<ArgumentException>(() => Baggage.ForWorkload("c", "ns", "statefulset", "db", null, null));
    }

    private static Baggage Parse(string value)
    {
        Assert.True(Baggage.TryParse(value, out Baggage? baggage), value);
        return baggage;
    }
}
