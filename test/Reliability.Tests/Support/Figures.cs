namespace Csshim.Reliability.Tests.Support;

/// <summary>One greppable line per measured fact; bench/reliability.sh adds them up.</summary>
public static class Figures
{
    public static void Write(string figure, params (string Key, object Value)[] values) =>
        TestContext.Out.WriteLine($"FIGURE {figure} {string.Join(' ', values.Select(v => $"{v.Key}={v.Value}"))}");

    /// <summary>Runs check and reports a hostile case as refused only if every assertion in it held.</summary>
    public static void HostileCase(string kind, string name, RuntimeUnderTest rt, Action check)
    {
        bool refused = false;
        try
        {
            check();
            refused = true;
        }
        finally
        {
            Write("hostile-case", ("kind", kind), ("name", name), ("runtime", rt), ("refused", refused ? "yes" : "no"));
        }
    }
}
