package syscallnames

import "runtime"

// native is the table of the architecture kscope was built for.
var native = Table(runtime.GOARCH)
