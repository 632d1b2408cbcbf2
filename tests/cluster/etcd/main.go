// Copyright: (c) 2026, netobs.cilium contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

// Command etcd starts the pinned etcd server. etcd's own main package lives in a module that
// replaces its siblings with local paths, so it cannot be built through the module proxy;
// etcdmain is the library entry point that main calls.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
