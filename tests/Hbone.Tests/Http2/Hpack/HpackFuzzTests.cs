using Hbone.Http2.Hpack;
using static Hbone.Tests.Http2.Hpack.HpackTestSupport;

namespace Hbone.Tests.Http2.Hpack;

public class HpackFuzzTests
{
    private const int Iterations = 20_000;
    private const int Seed = 0x4AC7;

    private static readonly byte[][] Seeds =
    [
        Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        Hex("1008 7061 7373 776f 7264 0673 6563 7265 74"),
        Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        Hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
        Hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
        Hex("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"),
        Hex("20 3fe11f 82 be bf c0"),
        Concat(Hex("02 07 434f4e4e454354 01 0d 31302e302e302e313a38303830"), Hex("40"), HuffmanLiteral("traceparent"), HuffmanLiteral("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")),
    ];

    [Fact]
    [Trait("case", "H2-07")]
    public void Mutated_blocks_only_throw_the_two_HPACK_exceptions()
    {
        var random = new Random(Seed);
        var handler = new CountingHeaderHandler();
        int accepted = 0;
        int malformed = 0;
        int tooLarge = 0;

        // One decoder for a run of blocks, as on a connection; a fresh one after an error, as after GOAWAY.
        var decoder = NewDecoder(random);
        for (int i = 0; i < Iterations; i++)
        {
            byte[] block = Mutate(Seeds[random.Next(Seeds.Length)], random);
            try
            {
                decoder.Decode(block, handler);
                accepted++;
                Assert.InRange(decoder.DynamicTableSize, 0, decoder.DynamicTableCapacity);
            }
            catch (HpackDecodingException)
            {
                malformed++;
                decoder = NewDecoder(random);
            }
            catch (HpackHeaderListTooLargeException)
            {
                tooLarge++;
                decoder = NewDecoder(random);
            }
        }

        Assert.True(accepted > Iterations / 20, $"accepted {accepted}");
        Assert.True(malformed > Iterations / 20, $"malformed {malformed}");
        Assert.True(tooLarge > 0, $"too large {tooLarge}");
    }

    private static HpackDecoder NewDecoder(Random random) =>
        new(maxDynamicTableSize: random.Next(2) == 0 ? 4096 : 256, maxHeaderListSize: random.Next(2) == 0 ? 16 * 1024 : 200);

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        int mutations = random.Next(1, 5);
        for (int m = 0; m < mutations; m++)
        {
            int at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(8))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 3 when bytes.Count > 0:
                    bytes.RemoveAt(at);
                    break;
                case 4 when bytes.Count > 0:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 5:
                    // Interesting octets: prefixes at their maximum, size updates, indices near the boundaries.
                    byte[] interesting = [0x80, 0xFF, 0x7F, 0x3F, 0x20, 0x1F, 0xBE, 0xBD, 0x40, 0x00, 0x10];
                    bytes.Insert(at, interesting[random.Next(interesting.Length)]);
                    break;
                case 6 when bytes.Count > 1:
                    int length = random.Next(1, bytes.Count - at + 1);
                    bytes.InsertRange(at, bytes.GetRange(at, length));
                    break;
                default:
                    bytes.AddRange(Seeds[random.Next(Seeds.Length)]);
                    break;
            }
        }

        return [.. bytes];
    }
}
