using System.Net;
using System.Text.Json;
using Hbone.Istio.Ca;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Xds;

namespace Hbone.Ztunnel.Admin;

/// <summary>The JSON of the admin <c>/config_dump</c>: the workloads, services and policies in force and the enrolled pods.</summary>
public static class ConfigDump
{
    /// <summary>Writes one JSON object with <c>workloads</c>, <c>services</c>, <c>policies</c>, <c>pods</c> and <c>certificates</c> arrays.</summary>
    /// <param name="w">The writer.</param>
    /// <param name="snapshot">The workload state to dump.</param>
    /// <param name="pods">The enrolled pods.</param>
    /// <param name="certificates">The workload certificates, sorted by identity.</param>
    /// <param name="xds">The xDS stream to istiod, when the config comes from it (an <c>xds</c> object; absent otherwise).</param>
    public static void Write(Utf8JsonWriter w, WorkloadSnapshot snapshot, IReadOnlyList<EnrolledPod> pods, IReadOnlyList<CertificateStatus>? certificates = null, XdsStatus? xds = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(pods);
        LocalConfig config = snapshot.Config;
        w.WriteStartObject();

        w.WriteStartArray("workloads");
        foreach (Workload workload in config.Workloads)
        {
            WriteWorkload(w, snapshot, workload);
        }

        w.WriteEndArray();

        w.WriteStartArray("services");
        foreach (Service service in config.Services)
        {
            WriteService(w, snapshot, service);
        }

        w.WriteEndArray();

        w.WriteStartArray("policies");
        foreach (AuthorizationPolicy policy in config.Policies)
        {
            w.WriteStartObject();
            w.WriteString("name", policy.Name);
            w.WriteString("namespace", policy.Namespace);
            w.WriteString("scope", policy.Scope.ToString());
            w.WriteString("action", policy.Action.ToString());
            w.WriteBoolean("dryRun", policy.DryRun);
            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("pods");
        foreach (EnrolledPod pod in pods)
        {
            w.WriteStartObject();
            w.WriteString("uid", pod.Uid);
            w.WriteString("name", pod.Name);
            w.WriteString("namespace", pod.Namespace);
            w.WriteString("serviceAccount", pod.ServiceAccount);
            w.WriteString("state", pod.State);
            WriteStrings(w, "addresses", pod.Addresses);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteCertificates(w, certificates ?? []);
        if (xds is not null)
        {
            w.WriteStartObject("xds");
            w.WriteString("address", xds.Address);
            w.WriteString("state", xds.State);
            w.WriteBoolean("ready", xds.Ready);
            w.WriteNumber("connects", xds.Connects);
            w.WriteNumber("responses", xds.Responses);
            w.WriteNumber("acks", xds.Acks);
            w.WriteNumber("nacks", xds.Nacks);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    // ztunnel's form: "Available", "Initializing", or "Unavailable: <why>".
    private static void WriteCertificates(Utf8JsonWriter w, IReadOnlyList<CertificateStatus> certificates)
    {
        w.WriteStartArray("certificates");
        foreach (CertificateStatus certificate in certificates)
        {
            w.WriteStartObject();
            w.WriteString("identity", certificate.Identity);
            w.WriteString("state", certificate.State == "Unavailable" && certificate.LastError is { } error ? $"Unavailable: {error}" : certificate.State);
            WriteChain(w, "certChain", certificate.CertChain);
            WriteChain(w, "rootCerts", certificate.RootCerts);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteChain(Utf8JsonWriter w, string name, IReadOnlyList<CertificateDetails> chain)
    {
        w.WriteStartArray(name);
        foreach (CertificateDetails detail in chain)
        {
            w.WriteStartObject();
            w.WriteString("pem", detail.Pem);
            w.WriteString("serialNumber", detail.SerialNumber);
            w.WriteString("validFrom", detail.ValidFrom);
            w.WriteString("expirationTime", detail.ExpirationTime);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteWorkload(Utf8JsonWriter w, WorkloadSnapshot snapshot, Workload workload)
    {
        w.WriteStartObject();
        w.WriteString("uid", workload.Uid);
        w.WriteString("name", workload.Name);
        w.WriteString("namespace", workload.Namespace);
        w.WriteString("serviceAccount", workload.ServiceAccount);
        w.WriteStartArray("workloadIps");
        foreach (IPAddress ip in workload.WorkloadIps)
        {
            w.WriteStringValue(ip.ToString());
        }

        w.WriteEndArray();
        w.WriteString("protocol", workload.Protocol == WorkloadProtocol.Hbone ? "HBONE" : "TCP");
        WriteStrings(w, "authorizationPolicies", workload.AuthorizationPolicies);
        w.WriteString("node", workload.Node);
        w.WriteString("network", workload.Network);
        WriteWaypoint(w, workload.Waypoint);
        w.WriteString("identity", snapshot.IdentityOf(workload).ToString());
        var services = new List<string>(workload.Services.Keys);
        services.Sort(StringComparer.Ordinal);
        WriteStrings(w, "services", services);
        w.WriteEndObject();
    }

    private static void WriteService(Utf8JsonWriter w, WorkloadSnapshot snapshot, Service service)
    {
        w.WriteStartObject();
        w.WriteString("name", service.Name);
        w.WriteString("namespace", service.Namespace);
        w.WriteString("hostname", service.Hostname);
        w.WriteStartArray("vips");
        foreach (NetworkAddress vip in service.Vips)
        {
            w.WriteStringValue(vip.ToString());
        }

        w.WriteEndArray();
        w.WriteStartObject("ports");
        var ports = new List<int>(service.Ports.Keys);
        ports.Sort();
        foreach (int port in ports)
        {
            w.WriteNumber(port.ToString(System.Globalization.CultureInfo.InvariantCulture), service.Ports[port]);
        }

        w.WriteEndObject();
        w.WriteStartArray("endpoints");
        foreach (Workload endpoint in snapshot.Endpoints(service))
        {
            w.WriteStringValue(endpoint.Uid);
        }

        w.WriteEndArray();
        WriteWaypoint(w, service.Waypoint);
        WriteStrings(w, "subjectAltNames", service.SubjectAltNames);
        w.WriteEndObject();
    }

    // "network/ip:port", the NetworkAddress form plus the HBONE port ("/[fd00::1]:15008" for IPv6).
    private static void WriteWaypoint(Utf8JsonWriter w, GatewayAddress? waypoint)
    {
        if (waypoint is null)
        {
            w.WriteNull("waypoint");
            return;
        }

        w.WriteString("waypoint", $"{waypoint.Destination.Network}/{new IPEndPoint(waypoint.Destination.Address, waypoint.HboneMtlsPort)}");
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (string value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }
}
