using Csshim.Tests.Rig;

namespace Csshim.Reliability.Tests.Support;

/// <summary>The rig's runtimes as these tests pick them: by name, a case skipped when the machine lacks one.</summary>
public static class Runtimes
{
    public static RuntimeUnderTest Runc => RuntimeUnderTest.ByName(RuntimeUnderTest.Runc);
    public static RuntimeUnderTest Runsc => RuntimeUnderTest.ByName(RuntimeUnderTest.Runsc2022);

    /// <summary>runc and the two Debian runsc builds.</summary>
    public static IEnumerable<RuntimeUnderTest> All => RuntimeUnderTest.Names.Select(RuntimeUnderTest.ByName);

    /// <summary>For checks that csshim makes before the runtime is involved: one runc, one runsc is enough.</summary>
    public static IEnumerable<RuntimeUnderTest> Main => [Runc, Runsc];

    public static IEnumerable<RuntimeUnderTest> Present => All.Where(r => r.IsPresent);

    public static RuntimeUnderTest Named(string name)
    {
        var rt = RuntimeUnderTest.ByName(name);
        if (!rt.IsPresent) Assert.Ignore(rt.MissingReason);
        return rt;
    }

    /// <summary>Something in the runtime's place that fails every call.</summary>
    public static RuntimeUnderTest Bogus => new("false", "/bin/false", [], IsRunsc: false);
}
