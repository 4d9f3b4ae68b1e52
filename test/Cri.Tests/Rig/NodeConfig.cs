using System.Text.RegularExpressions;
using Csshim.E2E.Rig;

namespace Csshim.Cri.Rig;

/// <summary>
/// The node's config.toml, made the way a new user makes it: `containerd config default`, then `csshim install
/// --containerd-config`. Between the two only what makes the daemon private to the suite is changed, value by
/// value in the stock text: its root, state and sockets, the CNI directories, the sandbox image, where network
/// namespaces are mounted, and restrict_oom_score_adj (see <see cref="Write"/>).
/// </summary>
public static partial class NodeConfig
{
    const string Cri = "plugins.\"io.containerd.grpc.v1.cri\"";

    public static string Write(string dir, string csshim, (string BinDir, string ConfDir) cni)
    {
        var text = Cmd.Run("/usr/bin/containerd", "config", "default").MustSucceed().Stdout;
        text = Set(text, "", "root", Quote(Path.Combine(dir, "root")));
        text = Set(text, "", "state", Quote(Path.Combine(dir, "state")));
        text = Set(text, "grpc", "address", Quote(Path.Combine(dir, "containerd.sock")));
        text = Set(text, "ttrpc", "address", Quote(Path.Combine(dir, "containerd.sock.ttrpc")));
        text = Set(text, Cri, "sandbox_image", Quote(CriImages.Pause));
        // Pod network namespaces under the private state dir instead of /var/run/netns, so a failed run's are found.
        text = Set(text, Cri, "netns_mounts_under_state_dir", "true");
        // The CRI plugin gives the sandbox oom_score_adj -998; this machine may not lower oom_score_adj (EACCES), so
        // the sandbox would not start. restrict_oom_score_adj keeps every score at or above containerd's own.
        text = Set(text, Cri, "restrict_oom_score_adj", "true");
        text = Set(text, Cri + ".cni", "bin_dir", Quote(cni.BinDir));
        text = Set(text, Cri + ".cni", "conf_dir", Quote(cni.ConfDir));
        var path = Path.Combine(dir, "config.toml");
        File.WriteAllText(path, text);
        Cmd.Run(csshim, "install", "--no-docker", "--containerd-config", path).MustSucceed();
        return path;
    }

    [GeneratedRegex(@"^\s*\[(?<name>[^\]]+)\]\s*$")]
    private static partial Regex Header();

    /// <summary>Replaces `key = ...` in table `table` ("" for the top level) of the stock text; the key must be there
    /// (a containerd whose defaults lack it is not the one this suite was written for).</summary>
    static string Set(string text, string table, string key, string value)
    {
        var lines = text.Split('\n');
        var current = "";
        for (int i = 0; i < lines.Length; i++)
        {
            var header = Header().Match(lines[i]);
            if (header.Success) current = header.Groups["name"].Value;
            else if (current == table && lines[i].TrimStart().StartsWith(key + " =", StringComparison.Ordinal))
            {
                lines[i] = lines[i][..(lines[i].Length - lines[i].TrimStart().Length)] + $"{key} = {value}";
                return string.Join('\n', lines);
            }
        }
        throw new InvalidOperationException($"`containerd config default` has no {key} in [{table}]");
    }

    static string Quote(string s) => "\"" + s + "\"";
}
