using Hbone.Identity;

namespace Hbone.Tests.Identity;

public class SpiffeIdTests
{
    public static TheoryData<string?, SpiffeIdError> InvalidIds => new()
    {
        { null, SpiffeIdError.Empty },
        { "", SpiffeIdError.Empty },
        { "http://cluster.local/ns/a/sa/b", SpiffeIdError.WrongScheme },
        { "SPIFFE://cluster.local/ns/a/sa/b", SpiffeIdError.WrongScheme },
        { "spiffe:/cluster.local", SpiffeIdError.WrongScheme },
        { "spiffe://", SpiffeIdError.MissingTrustDomain },
        { "spiffe:///ns/a", SpiffeIdError.MissingTrustDomain },
        { "spiffe://Cluster.local/ns/a/sa/b", SpiffeIdError.InvalidTrustDomainCharacter },
        { "spiffe://cluster.local:8080/ns/a/sa/b", SpiffeIdError.PortNotAllowed },
        { "spiffe://user@cluster.local/ns/a/sa/b", SpiffeIdError.UserInfoNotAllowed },
        { "spiffe://user:pass@cluster.local/ns/a", SpiffeIdError.UserInfoNotAllowed },
        { "spiffe://cluster.local/ns/%41/sa/b", SpiffeIdError.PercentEncodingNotAllowed },
        { "spiffe://cluster.local/ns//sa/b", SpiffeIdError.EmptySegment },
        { "spiffe://cluster.local//", SpiffeIdError.EmptySegment },
        { "spiffe://cluster.local/ns/./sa", SpiffeIdError.DotSegment },
        { "spiffe://cluster.local/ns/../sa", SpiffeIdError.DotSegment },
        { "spiffe://cluster.local/.", SpiffeIdError.DotSegment },
        { "spiffe://cluster.local/ns/a/", SpiffeIdError.TrailingSlash },
        { "spiffe://cluster.local/", SpiffeIdError.TrailingSlash },
        { "spiffe://cluster.local/ns/a?q", SpiffeIdError.QueryOrFragmentNotAllowed },
        { "spiffe://cluster.local/ns/a#f", SpiffeIdError.QueryOrFragmentNotAllowed },
        { "spiffe://cluster.local?q", SpiffeIdError.QueryOrFragmentNotAllowed },
        { "spiffe://cluster.local#f", SpiffeIdError.QueryOrFragmentNotAllowed },
        { "spiffe://cluster local/ns/a", SpiffeIdError.InvalidTrustDomainCharacter },
        { "spiffe://cluster+local/ns/a", SpiffeIdError.InvalidTrustDomainCharacter },
        { "spiffe://clüster.local/ns/a", SpiffeIdError.InvalidTrustDomainCharacter },
        { "spiffe://cluster.local/ns/a b", SpiffeIdError.InvalidPathCharacter },
        { "spiffe://cluster.local/ns/a~b", SpiffeIdError.InvalidPathCharacter },
        { "spiffe://cluster.local/ns/ä", SpiffeIdError.InvalidPathCharacter },
        { "spiffe://cluster.local/ns/a:b", SpiffeIdError.InvalidPathCharacter },
        { "spiffe://" + new string('a', 256) + "/x", SpiffeIdError.TrustDomainTooLong },
        { IdOfLength(2049), SpiffeIdError.TooLong },
    };

    [Theory]
    [Trait("case", "ID-01")]
    [MemberData(nameof(InvalidIds))]
    public void Invalid_id_is_rejected_with_its_reason(string? value, SpiffeIdError expected)
    {
        Assert.False(SpiffeId.TryParse(value, out SpiffeId? id, out SpiffeIdError error));
        Assert.Null(id);
        Assert.Equal(expected, error);

        SpiffeIdException ex = Assert.Throws<SpiffeIdException>(() => SpiffeId.Parse(value!));
        Assert.Equal(expected, ex.Error);
        Assert.Equal(HboneErrorReason.InvalidSpiffeId, ex.Reason);
        Assert.Contains(expected.ToString(), ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [Trait("case", "ID-01")]
    [InlineData("spiffe://cluster.local/ns/default/sa/echo", "cluster.local", "/ns/default/sa/echo")]
    [InlineData("spiffe://example.org", "example.org", "")]
    [InlineData("spiffe://a-b_c.0/A.b-c_9/..x/.y", "a-b_c.0", "/A.b-c_9/..x/.y")]
    public void Valid_id_is_split_into_trust_domain_and_path(string value, string trustDomain, string path)
    {
        SpiffeId id = SpiffeId.Parse(value);

        Assert.Equal(trustDomain, id.TrustDomain);
        Assert.Equal(path, id.Path);
        Assert.Equal(value, id.ToString());
        Assert.Same(id.ToString(), id.ToString());
    }

    [Fact]
    [Trait("case", "ID-01")]
    public void Id_of_exactly_2048_bytes_and_trust_domain_of_255_bytes_are_accepted()
    {
        string longest = IdOfLength(2048);
        Assert.True(SpiffeId.TryParse(longest, out SpiffeId? id, out SpiffeIdError error));
        Assert.Equal(SpiffeIdError.None, error);
        Assert.Equal(2048, id.ToString().Length);

        string longestTrustDomain = new('a', 255);
        Assert.Equal(longestTrustDomain, SpiffeId.Parse($"spiffe://{longestTrustDomain}/x").TrustDomain);
    }

    [Fact]
    public void Equality_is_ordinal_on_the_whole_id()
    {
        SpiffeId a = SpiffeId.Parse("spiffe://cluster.local/ns/a/sa/b");
        SpiffeId same = SpiffeId.Parse("spiffe://cluster.local/ns/a/sa/b");
        SpiffeId otherCase = SpiffeId.Parse("spiffe://cluster.local/ns/A/sa/b");

        Assert.Equal(a, same);
        Assert.True(a == same);
        Assert.Equal(a.GetHashCode(), same.GetHashCode());
        Assert.NotEqual(a, otherCase);
        Assert.True(a != otherCase);
    }

    [Fact]
    public void Istio_id_round_trips_through_its_typed_view()
    {
        SpiffeId id = SpiffeId.ForIstio("cluster.local", "default", "echo");

        Assert.Equal("spiffe://cluster.local/ns/default/sa/echo", id.ToString());
        Assert.True(id.TryGetIstioIdentity(out IstioIdentity istio));
        Assert.Equal(new IstioIdentity("cluster.local", "default", "echo"), istio);
        Assert.Equal(id, istio.ToSpiffeId());
    }

    [Theory]
    [InlineData("spiffe://cluster.local")]
    [InlineData("spiffe://cluster.local/ns/default")]
    [InlineData("spiffe://cluster.local/ns/default/sa")]
    [InlineData("spiffe://cluster.local/ns/default/sa/echo/extra")]
    [InlineData("spiffe://cluster.local/ns/default/xx/echo")]
    [InlineData("spiffe://cluster.local/workload/default/sa/echo")]
    public void Non_istio_path_has_no_istio_view(string value)
    {
        Assert.False(SpiffeId.Parse(value).TryGetIstioIdentity(out IstioIdentity istio));
        Assert.Equal(default, istio);
    }

    [Theory]
    [InlineData("Cluster.local", "default", "echo", SpiffeIdError.InvalidTrustDomainCharacter)]
    [InlineData("cluster.local", "", "echo", SpiffeIdError.InvalidIstioComponent)]
    [InlineData("cluster.local", "a/b", "echo", SpiffeIdError.InvalidIstioComponent)]
    [InlineData("cluster.local", "default", "..", SpiffeIdError.DotSegment)]
    [InlineData("cluster.local", "default", "e%41", SpiffeIdError.PercentEncodingNotAllowed)]
    public void ForIstio_validates_its_components(string trustDomain, string ns, string serviceAccount, SpiffeIdError expected)
    {
        SpiffeIdException ex = Assert.Throws<SpiffeIdException>(() => SpiffeId.ForIstio(trustDomain, ns, serviceAccount));
        Assert.Equal(expected, ex.Error);
    }

    /// <summary>A valid ID of exactly <paramref name="length"/> characters (all ASCII, so also bytes).</summary>
    internal static string IdOfLength(int length)
    {
        const string prefix = "spiffe://cluster.local";
        System.Text.StringBuilder builder = new(prefix, length);
        while (builder.Length < length)
        {
            int segment = Math.Min(100, length - builder.Length - 1);
            builder.Append('/').Append('s', Math.Max(segment, 1));
        }

        return builder.ToString();
    }
}
