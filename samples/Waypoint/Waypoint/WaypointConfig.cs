using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hbone.Identity;
using Hbone.Protocol;

namespace Waypoint;

/// <summary>
/// What the waypoint serves: who may send through it (by SPIFFE identity) and, per service, its VIP, hostname and pods.
/// The file-config mode reads it from a JSON file; joined to a mesh, the services come from istiod instead.
/// </summary>
public sealed record WaypointConfig : IWaypointServiceSource
{
    /// <summary>The client identities allowed through (an L4 ALLOW policy on the peer's SPIFFE ID); empty allows any peer.</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    /// <summary>The services this waypoint fronts.</summary>
    public IReadOnlyList<WaypointService> Services { get; init; } = [];

    /// <summary>Reads and checks a config file; a bad one is a <see cref="WaypointConfigException"/> naming what is wrong.</summary>
    public static WaypointConfig Load(string path)
    {
        WaypointConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<WaypointConfig>(File.ReadAllText(path), Json);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new WaypointConfigException($"{path}: {ex.Message}", ex);
        }

        config ??= new WaypointConfig();
        config.Validate(path);
        return config;
    }

    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip };

    private void Validate(string path)
    {
        foreach (string id in Allow)
        {
            if (!SpiffeId.TryParse(id, out _, out SpiffeIdError error))
            {
                throw new WaypointConfigException($"{path}: allow: '{id}' is not a SPIFFE ID ({error})");
            }
        }

        foreach (WaypointService service in Services)
        {
            if (!IPEndPoint.TryParse(service.Vip, out IPEndPoint? vip) || vip.Port == 0)
            {
                throw new WaypointConfigException($"{path}: service {service.Hostname}: vip '{service.Vip}' is not IP:port");
            }

            if (service.Endpoints.Count == 0)
            {
                throw new WaypointConfigException($"{path}: service {service.Hostname} has no endpoints");
            }

            foreach (WaypointEndpoint endpoint in service.Endpoints)
            {
                if (!IPEndPoint.TryParse(endpoint.Address, out IPEndPoint? address) || address.Port == 0 || !SpiffeId.TryParse(endpoint.Identity, out _, out _))
                {
                    throw new WaypointConfigException($"{path}: service {service.Hostname}: endpoint '{endpoint.Address}' needs IP:port and a SPIFFE identity");
                }
            }
        }
    }
}

/// <summary>A service behind the waypoint.</summary>
public sealed record WaypointService
{
    /// <summary>Its DNS name; an east-west CONNECT names it (<c>hostname:port</c>).</summary>
    public required string Hostname { get; init; }

    /// <summary>Its VIP and port, <c>10.96.0.40:80</c>: a ztunnel's CONNECT to the waypoint carries it as <c>:authority</c>.</summary>
    public required string Vip { get; init; }

    /// <summary>Its pods.</summary>
    public required IReadOnlyList<WaypointEndpoint> Endpoints { get; init; }
}

/// <summary>A pod of a service: where its app listens, its identity, and its HBONE port.</summary>
public sealed record WaypointEndpoint
{
    /// <summary>The pod's address and target port, <c>10.244.2.2:8080</c> (the inner <c>:authority</c>).</summary>
    public required string Address { get; init; }

    /// <summary>The SPIFFE ID the pod must present.</summary>
    public required string Identity { get; init; }

    /// <summary>The pod's HBONE port (its ztunnel's 15008).</summary>
    public int HbonePort { get; init; } = 15008;

    [JsonIgnore]
    internal IPEndPoint AddressEndPoint => IPEndPoint.Parse(Address);

    [JsonIgnore]
    internal IPEndPoint HboneEndPoint => new(AddressEndPoint.Address, HbonePort);

    [JsonIgnore]
    internal HboneAuthority Authority => HboneAuthority.FromEndPoint(AddressEndPoint);
}

/// <summary>The config file (or, joining a mesh, the environment) cannot be used; the message is one line naming the file or variable and the problem.</summary>
public sealed class WaypointConfigException(string message, Exception? inner = null) : Exception(message, inner);
