using System.Text;

namespace Hbone.Istio.Tests.Protos;

/// <summary>
/// A hand-written protobuf encoder for wire-compatibility tests: each field is written by the number Istio's and
/// Envoy's protos give it, so a renumbered field in our .proto files fails a test instead of silently mis-decoding.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    public ProtoWriter Varint(int field, ulong value) => Tag(field, 0).Raw(value);

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Bytes(int field, byte[] value)
    {
        Tag(field, 2).Raw((ulong)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    public ProtoWriter Message(int field, Action<ProtoWriter> build)
    {
        var inner = new ProtoWriter();
        build(inner);
        return Bytes(field, inner.ToArray());
    }

    public ProtoWriter PackedVarints(int field, params ulong[] values)
    {
        var inner = new ProtoWriter();
        foreach (ulong value in values)
        {
            inner.Raw(value);
        }

        return Bytes(field, inner.ToArray());
    }

    private ProtoWriter Tag(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

    private ProtoWriter Raw(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        _bytes.Add((byte)value);
        return this;
    }
}
