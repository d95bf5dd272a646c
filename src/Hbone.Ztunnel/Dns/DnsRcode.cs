namespace Hbone.Ztunnel.Dns;

/// <summary>The response codes the proxy answers with itself (RFC 1035 §4.1.1).</summary>
internal enum DnsRcode : byte
{
    /// <summary>No error.</summary>
    NoError = 0,

    /// <summary>The query could not be interpreted.</summary>
    FormErr = 1,

    /// <summary>The upstream resolvers did not answer.</summary>
    ServFail = 2,

    /// <summary>The opcode is not supported.</summary>
    NotImp = 4,
}
