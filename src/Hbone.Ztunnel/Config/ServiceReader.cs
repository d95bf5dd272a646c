using Hbone.Ztunnel.State;
using YamlDotNet.RepresentationModel;
using static Hbone.Ztunnel.Config.LocalConfigParser;

namespace Hbone.Ztunnel.Config;

/// <summary>Reads one entry of <c>services</c>.</summary>
internal static class ServiceReader
{
    public static Service Read(YamlReader reader, YamlNode node, string path)
    {
        var e = reader.Entries(reader.Mapping(node, path), path);
        string Req(string key) => reader.NonEmptyString(Required(reader, e, key, node, path), $"{path}.{key}");

        return new Service
        {
            Name = Req("name"),
            Namespace = Req("namespace"),
            Hostname = Req("hostname"),
            Vips = Optional(e, "vips") is { } v ? reader.List(v, $"{path}.vips", (n, p) => GatewayReader.ReadNetworkAddress(reader, n, p)) : [],
            Ports = Optional(e, "ports") is { } ports ? reader.PortMap(ports, $"{path}.ports") : new Dictionary<int, int>(),
            SubjectAltNames = Optional(e, "subjectAltNames") is { } s ? reader.List(s, $"{path}.subjectAltNames", reader.NonEmptyString) : [],
            Waypoint = Optional(e, "waypoint") is { } w ? GatewayReader.Read(reader, w, $"{path}.waypoint") : null,
        };
    }
}
