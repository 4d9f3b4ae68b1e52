namespace Csshim.Tests.Rig;

/// <summary>
/// Every container id a test created, with the CLI that created it. TearDown first lists what is still there
/// (a leak unless the test expects it), then `delete --force`s it: through the same CLI so csshim unstages,
/// then through the runtime directly in case csshim failed. runsc refuses `kill` on a created container but
/// `delete --force` works for every state.
/// </summary>
public sealed class ContainerGuard
{
    private readonly List<(RuntimeCli Cli, string Id)> created = new();

    public string Track(RuntimeCli cli, string id)
    {
        created.Add((cli, id));
        return id;
    }

    /// <summary>Tracked ids that the runtime still knows about, as "label: id (status)".</summary>
    public List<string> Remaining()
    {
        var left = new List<string>();
        foreach (var (cli, id) in created)
        {
            var direct = RuntimeCli.Direct(cli.Runtime, cli.RootDir);
            var state = direct.Run("state", id);
            if (state.ExitCode == 0)
                left.Add($"{cli.Label}: {id} ({StatusOf(state.Stdout)})");
        }
        return left.Distinct().ToList();
    }

    public void ForceDeleteAll()
    {
        foreach (var (cli, id) in created)
        {
            cli.Run("delete", "--force", id);
            RuntimeCli.Direct(cli.Runtime, cli.RootDir).Run("delete", "--force", id);
        }
    }

    private static string StatusOf(string stateJson)
    {
        try { return (string?)Newtonsoft.Json.Linq.JObject.Parse(stateJson)["status"] ?? "?"; }
        catch (Newtonsoft.Json.JsonException) { return "unparsable state"; }
    }
}
