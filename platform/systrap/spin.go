package systrap

// procyield executes one PAUSE: a polite spin-wait step.
func procyield()
