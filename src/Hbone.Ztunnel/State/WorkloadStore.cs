using System.Net;
using Hbone.Ztunnel.Config;

namespace Hbone.Ztunnel.State;

/// <summary>The current <see cref="WorkloadSnapshot"/>, swapped atomically as a whole on each update; readers never see a half-applied config.</summary>
/// <param name="trustDomain">The trust domain of workload SPIFFE IDs.</param>
/// <param name="network">This node's network.</param>
public sealed class WorkloadStore(string trustDomain = "cluster.local", string network = "")
{
    private WorkloadSnapshot _current = new(LocalConfig.Empty, trustDomain, network);

    /// <summary>The snapshot in force; take it once per connection so every lookup agrees.</summary>
    public WorkloadSnapshot Current => Volatile.Read(ref _current);

    /// <summary>The trust domain of workload SPIFFE IDs.</summary>
    public string TrustDomain { get; } = trustDomain;

    /// <summary>This node's network.</summary>
    public string Network { get; } = network;

    /// <summary>Indexes <paramref name="config"/> and makes it current.</summary>
    /// <param name="config">The new config.</param>
    /// <returns>The new snapshot.</returns>
    public WorkloadSnapshot Update(LocalConfig config)
    {
        var snapshot = new WorkloadSnapshot(config, TrustDomain, Network);
        Interlocked.Exchange(ref _current, snapshot);
        return snapshot;
    }

    /// <summary>The workload with this IP in this network.</summary>
    public Workload? FindWorkload(string network, IPAddress ip) => Current.FindWorkload(network, ip);

    /// <summary>The workload with this uid.</summary>
    public Workload? FindWorkloadByUid(string uid) => Current.FindWorkloadByUid(uid);

    /// <summary>The service with this VIP in this network.</summary>
    public Service? FindService(string network, IPAddress vip) => Current.FindService(network, vip);

    /// <summary>The service with this hostname.</summary>
    public Service? FindServiceByHostname(string hostname) => Current.FindServiceByHostname(hostname);

    /// <summary>Decides how to send a connection, on the current snapshot.</summary>
    /// <param name="destination">The original destination.</param>
    /// <param name="source">The sending workload, when known.</param>
    /// <returns>The route.</returns>
    public RouteDecision Resolve(IPEndPoint destination, Workload? source) => Current.Resolve(destination, source);
}
