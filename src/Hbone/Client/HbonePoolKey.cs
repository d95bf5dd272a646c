using System.Net;
using Hbone.Identity;

namespace Hbone.Client;

/// <summary>
/// What a pooled connection may be shared for (hbone-reference.md §2): never across source identities,
/// expected server identities, destinations or source addresses.
/// </summary>
internal readonly record struct HbonePoolKey(SpiffeId Source, string ExpectedIdentities, IPEndPoint Destination, IPAddress? SourceAddress)
{
    public static HbonePoolKey For(SpiffeId source, IReadOnlyCollection<SpiffeId> expected, IPEndPoint destination, IPAddress? sourceAddress)
    {
        // A canonical form of the set: the same identities in any order make the same key.
        var names = new string[expected.Count];
        var i = 0;
        foreach (var id in expected)
        {
            names[i++] = id.ToString();
        }

        Array.Sort(names, StringComparer.Ordinal);
        return new HbonePoolKey(source, string.Join(' ', names), destination, sourceAddress);
    }

    public override string ToString() => $"{Source} -> {Destination} [{ExpectedIdentities}]{(SourceAddress is null ? "" : $" from {SourceAddress}")}";
}
