using Google.Protobuf;

namespace Hbone.Istio.Xds;

/// <summary>Applies the resources of one xDS type. Called on the client's receive loop, one batch at a time.</summary>
/// <typeparam name="T">The resource message.</typeparam>
public interface IXdsHandler<T>
    where T : IMessage<T>, new()
{
    /// <summary>Applies one response's batch; the valid resources must be applied even when some are rejected.</summary>
    /// <param name="update">The decoded resources and the removed names.</param>
    /// <returns>The resources refused, by name; empty when all were applied.</returns>
    IReadOnlyList<XdsRejection> Apply(XdsUpdate<T> update);
}

/// <summary>One resource refused by the client or its handler; sent to the server in the NACK as <c>name: reason</c>.</summary>
/// <param name="Name">The resource name.</param>
/// <param name="Reason">Why it was refused.</param>
public sealed record XdsRejection(string Name, string Reason)
{
    /// <summary>The NACK form, <c>name: reason</c>.</summary>
    public override string ToString() => $"{Name}: {Reason}";
}

/// <summary>One decoded resource of a response.</summary>
/// <typeparam name="T">The resource message.</typeparam>
/// <param name="Name">The resource name.</param>
/// <param name="Version">The server's version of it.</param>
/// <param name="Value">The decoded message.</param>
public sealed record XdsResource<T>(string Name, string Version, T Value);

/// <summary>The decoded content of one delta response.</summary>
/// <typeparam name="T">The resource message.</typeparam>
/// <param name="Updated">The resources added or changed (those that decoded).</param>
/// <param name="Removed">The names removed.</param>
public sealed record XdsUpdate<T>(IReadOnlyList<XdsResource<T>> Updated, IReadOnlyList<string> Removed);
