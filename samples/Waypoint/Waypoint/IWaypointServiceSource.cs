namespace Waypoint;

/// <summary>
/// Where the waypoint learns its services: a config file (<see cref="WaypointConfig"/>) or istiod's xDS
/// (<c>Mesh.MeshServiceSource</c>). The router reads <see cref="Services"/> for every CONNECT, so a source that
/// changes takes effect on the next tunnel without a restart.
/// </summary>
public interface IWaypointServiceSource
{
    /// <summary>The services now; a new list (never one changed in place) after each change.</summary>
    IReadOnlyList<WaypointService> Services { get; }
}
