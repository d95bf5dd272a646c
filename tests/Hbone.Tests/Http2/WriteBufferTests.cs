using System.Security.Cryptography;
using Hbone.Http2;

namespace Hbone.Tests.Http2;

/// <summary>
/// The frame write buffer (issue 10: memory per idle tunnel; new case id MEM-01, not in the catalogue): it holds an
/// array only while it has content, and what is written survives growth and reuse byte for byte.
/// </summary>
public sealed class WriteBufferTests
{
    [Fact]
    [Trait("case", "MEM-01")]
    public void An_empty_buffer_holds_no_array_before_the_first_write_and_after_each_reset()
    {
        using var buffer = new WriteBuffer();
        Assert.Equal(0, buffer.Capacity);

        buffer.Write(RandomNumberGenerator.GetBytes(100));
        Assert.True(buffer.Capacity >= 100);

        buffer.Reset();
        Assert.Equal(0, buffer.Length);
        Assert.Equal(0, buffer.Capacity);
        Assert.True(buffer.Written.IsEmpty);
    }

    [Fact]
    [Trait("case", "MEM-01")]
    public void Content_written_in_pieces_survives_growth_byte_for_byte()
    {
        using var buffer = new WriteBuffer();
        var first = RandomNumberGenerator.GetBytes(10 * 1024);
        var second = RandomNumberGenerator.GetBytes(70 * 1024);

        buffer.Write(first);
        var span = buffer.GetSpan(second.Length);
        second.CopyTo(span);
        buffer.Advance(second.Length);

        Assert.Equal(SHA256.HashData([.. first, .. second]), SHA256.HashData(buffer.Written.Span));
    }

    [Fact]
    [Trait("case", "MEM-01")]
    public void After_a_bulk_write_the_next_content_gets_an_array_of_that_size_at_once_and_stays_intact()
    {
        using var buffer = new WriteBuffer();
        buffer.Write(RandomNumberGenerator.GetBytes(200 * 1024));
        var bulk = buffer.Capacity;
        buffer.Reset();

        // The next batch starts at the last size: no regrowth (and copy) per frame of a bulk transfer.
        var small = RandomNumberGenerator.GetBytes(9);
        buffer.Write(small);
        Assert.Equal(bulk, buffer.Capacity);
        Assert.Equal(small, buffer.Written.ToArray());

        var more = RandomNumberGenerator.GetBytes(150 * 1024);
        buffer.Write(more);
        Assert.Equal(SHA256.HashData([.. small, .. more]), SHA256.HashData(buffer.Written.Span));
    }
}
