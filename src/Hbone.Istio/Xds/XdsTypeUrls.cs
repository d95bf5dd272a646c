namespace Hbone.Istio.Xds;

/// <summary>The xDS type URLs of Istio's ambient resources.</summary>
public static class XdsTypeUrls
{
    /// <summary>Workloads and services (<c>istio.workload.Address</c>).</summary>
    public const string Address = "type.googleapis.com/istio.workload.Address";

    /// <summary>L4 authorization policies (<c>istio.security.Authorization</c>).</summary>
    public const string Authorization = "type.googleapis.com/istio.security.Authorization";
}
