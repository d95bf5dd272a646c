using System.Diagnostics;
using Hbone.Protocol;

namespace Hbone.Tests.Protocol;

public class TraceParentTests
{
    private const string W3cExample = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Fact]
    public void Parses_the_w3c_example()
    {
        Assert.True(TraceParent.TryParse(W3cExample, out TraceParent value));

        Assert.Equal("0af7651916cd43dd8448eb211c80319c", value.TraceId.ToHexString());
        Assert.Equal("b7ad6b7169203331", value.SpanId.ToHexString());
        Assert.Equal(ActivityTraceFlags.Recorded, value.Flags);
        Assert.Equal(W3cExample, value.ToString());
    }

    [Fact]
    public void Unknown_flag_bits_round_trip()
    {
        Assert.True(TraceParent.TryParse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", out TraceParent value));

        Assert.Equal((ActivityTraceFlags)0xff, value.Flags);
        Assert.EndsWith("-ff", value.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x")]
    [InlineData("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A")]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01")]
    [InlineData("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01")]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x")]
    public void Rejects_invalid_values(string value)
    {
        Assert.False(TraceParent.TryParse(value, out TraceParent parsed));
        Assert.Equal(default, parsed);
    }

    [Theory]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds")]
    public void Future_versions_are_read_as_00(string value)
    {
        Assert.True(TraceParent.TryParse(value, out TraceParent parsed));
        Assert.Equal(W3cExample, parsed.ToString());
    }

    [Fact]
    public void CreateRandom_has_flags_00_and_round_trips()
    {
        TraceParent random = TraceParent.CreateRandom();
        string text = random.ToString();

        Assert.Equal(ActivityTraceFlags.None, random.Flags);
        Assert.Equal(TraceParent.Length, text.Length);
        Assert.StartsWith("00-", text, StringComparison.Ordinal);
        Assert.EndsWith("-00", text, StringComparison.Ordinal);
        Assert.True(TraceParent.TryParse(text, out TraceParent parsed));
        Assert.Equal(random, parsed);
        Assert.NotEqual(random, TraceParent.CreateRandom());
    }
}
