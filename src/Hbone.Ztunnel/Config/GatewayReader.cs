using Hbone.Ztunnel.State;
using YamlDotNet.RepresentationModel;
using static Hbone.Ztunnel.Config.LocalConfigParser;

namespace Hbone.Ztunnel.Config;

/// <summary>Reads a <c>waypoint</c>: ztunnel's <c>{destination: "network/ip", hboneMtlsPort}</c> or <c>{address: "ip", hboneMtlsPort}</c>.</summary>
internal static class GatewayReader
{
    public const int DefaultHbonePort = 15008;

    public static GatewayAddress Read(YamlReader reader, YamlNode node, string path)
    {
        var e = reader.Entries(reader.Mapping(node, path), path);
        NetworkAddress destination;
        if (Optional(e, "destination") is { } d)
        {
            destination = ReadNetworkAddress(reader, d, $"{path}.destination");
        }
        else if (Optional(e, "address") is { } a)
        {
            destination = ReadNetworkAddress(reader, a, $"{path}.address");
        }
        else
        {
            throw reader.Fail(node, path, "missing required field 'destination' (or 'address')");
        }

        int port = Optional(e, "hboneMtlsPort") is { } p ? reader.Port(p, $"{path}.hboneMtlsPort") : DefaultHbonePort;
        return new GatewayAddress(destination, port);
    }

    /// <summary>Reads <c>network/ip</c> or a bare <c>ip</c> (default network).</summary>
    public static NetworkAddress ReadNetworkAddress(YamlReader reader, YamlNode node, string path)
    {
        string text = reader.String(node, path);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string network = slash < 0 ? "" : text[..slash];
        return YamlReader.ParseIp(slash < 0 ? text : text[(slash + 1)..]) is { } ip
            ? new NetworkAddress(network, ip)
            : throw reader.Fail(node, path, $"'{text}' is not an IP address or 'network/ip'");
    }
}
